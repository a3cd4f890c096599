import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { constants, createPublicKey, privateDecrypt, publicEncrypt, sign, verify } from "node:crypto";
import { once } from "node:events";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { SecretScanner } from "../../scripts/scan-secrets.ts";
import { PAT, ROOT_TOKEN, clientKeyPem, pemBody, secretForms, uakPrivateKeyPem } from "../helpers/secrets.ts";

/**
 * The scan that `npm test` runs over its own output: it must catch a planted secret in every form,
 * however the output is chunked, and pass everything else through, the runner's summary included.
 * No test here prints a secret: planted ones go to a child whose output is captured, never shown.
 */
const SCANNER = fileURLToPath(new URL("../../scripts/scan-secrets.ts", import.meta.url));

async function scanned(
  script: string,
): Promise<{ code: number | null; stdout: string; stderr: string; leaked: boolean }> {
  // The child prints what `script` computes; the scanner wraps it exactly as `npm test` wraps the test runner.
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      SCANNER,
      "--",
      process.execPath,
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      script,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  const leaked = secretForms().some((form) => stdout.includes(form.value) || stderr.includes(form.value));
  return { code, stdout, stderr, leaked };
}

const SECRETS_MODULE = JSON.stringify(new URL("../helpers/secrets.ts", import.meta.url).href);

describe("the secret scan of the test output", () => {
  test("the fixed test secrets are valid keys", () => {
    const uak = uakPrivateKeyPem();
    assert.match(uak, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    const encrypted = publicEncrypt(
      { key: createPublicKey(uak), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      Buffer.from("handshake secret"),
    );
    const decrypted = privateDecrypt(
      { key: uak, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      encrypted,
    );
    assert.equal(decrypted.toString(), "handshake secret");
    const signature = sign("sha256", Buffer.from("x"), clientKeyPem());
    assert.ok(verify("sha256", Buffer.from("x"), createPublicKey(clientKeyPem()), signature));
    // Fixed, not random: a fingerprint of the forms.
    assert.equal(secretForms().length, new Set(secretForms().map((form) => form.value)).size);
    assert.ok(secretForms().length >= 30);
  });

  test("every form is found and redacted, also when split across chunks", () => {
    for (const form of secretForms()) {
      const scanner = new SecretScanner(secretForms());
      const text = `before ${form.value} after\n`;
      let out = "";
      // One character at a time: the worst chunking there is.
      for (const character of text) out += scanner.push(character);
      out += scanner.flush();
      assert.ok(scanner.found.size > 0, `${form.label} not found`);
      assert.ok(!out.includes(form.value), `${form.label} not redacted`);
      assert.match(out, /^before \[secret: .* redacted\] after\n$/);
    }
  });

  test("a secret inside a longer base64 text is found whatever precedes it", () => {
    for (const prefix of ["", "x", "xy", "#!/bin/sh\nANKA_AZP_TOKEN='"]) {
      const scanner = new SecretScanner(secretForms());
      scanner.push(Buffer.from(`${prefix}${PAT}'\n`).toString("base64"));
      scanner.flush();
      assert.ok(scanner.found.size > 0, `prefix of ${prefix.length}`);
    }
  });

  test("ordinary output passes through unchanged", () => {
    const scanner = new SecretScanner(secretForms());
    const text = "▶ suite\n  ✔ a test (1.2ms)\nℹ tests 1\nℹ pass 1\nℹ fail 0\n";
    assert.equal(scanner.push(text) + scanner.flush(), text);
    assert.equal(scanner.found.size, 0);
  });

  test("a command that prints a planted secret fails the run; the output is redacted, the summary kept", async () => {
    const run = await scanned(
      `const s = await import(${SECRETS_MODULE});\n` +
        `console.log("ℹ tests 3");\n` +
        `console.log("Authorization: Basic " + Buffer.from(":" + s.PAT).toString("base64"));\n` +
        `console.error(s.pemBody(s.uakPrivateKeyPem()));\n` +
        `console.log("ℹ pass 3");\n` +
        `console.log("ℹ fail 0");`,
    );
    assert.equal(run.code, 1);
    assert.equal(run.leaked, false, "the scanner itself must not show the secret");
    assert.match(
      run.stdout,
      /ℹ tests 3\nAuthorization: Basic \[secret: PAT as Basic credentials .* redacted\]\nℹ pass 3\nℹ fail 0\n/,
    );
    assert.match(run.stderr, /\[secret: UAK private key, body on one line redacted\]/);
    assert.match(
      run.stderr,
      /scan-secrets: FAILED: the output showed \d+ test secret form\(s\), redacted above/,
    );
    assert.match(run.stderr, /- PAT as Basic credentials of user ""\n/);
    assert.match(run.stderr, /- UAK private key, body on one line\n/);
    assert.ok(pemBody(uakPrivateKeyPem()).length > 100 && ROOT_TOKEN.length > 10);
  });

  test("a clean command keeps its exit code and output", async () => {
    const clean = await scanned(`console.log("ℹ tests 1"); console.log("ℹ pass 1");`);
    assert.deepEqual([clean.code, clean.stdout, clean.stderr], [0, "ℹ tests 1\nℹ pass 1\n", ""]);
    const failing = await scanned(`console.log("ℹ fail 1"); process.exitCode = 3;`);
    assert.deepEqual([failing.code, failing.stdout], [3, "ℹ fail 1\n"]);
  });

  test("npm test runs the test runner under the scan", () => {
    const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      scripts: Record<string, string>;
    };
    assert.match(
      manifest.scripts.test ?? "",
      /node --import tsx scripts\/scan-secrets\.ts -- node .*--test /,
    );
  });

  test("no test file makes up a secret of its own: they all come from test/helpers/secrets.ts", () => {
    // Secrets defined elsewhere would be invisible to the scan. (The CLI tests are being written
    // right now; their root token moves to secrets.ts with them.)
    const notYetMoved = new Set(["integration/cli.test.ts"]);
    const root = new URL("../", import.meta.url);
    const declaration = /\b(?:const|let|var)\s+([A-Z0-9_]+)\s*=\s*(?:["'`]|[^;\n]*randomBytes)/g;
    const secretWords = new Set(["PAT", "PATS", "TOKEN", "TOKENS", "PASSWORD", "SECRET", "SECRETS"]);
    const offenders: string[] = [];
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
      const relative = `${entry.parentPath ?? entry.path}/${entry.name}`.slice(fileURLToPath(root).length);
      if (relative === "helpers/secrets.ts" || notYetMoved.has(relative)) continue;
      for (const [, name] of readFileSync(new URL(relative, root), "utf8").matchAll(declaration)) {
        if (name?.split("_").some((word) => secretWords.has(word))) offenders.push(`${relative}: ${name}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
