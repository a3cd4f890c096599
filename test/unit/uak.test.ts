import assert from "node:assert/strict";
import { constants, generateKeyPairSync, publicEncrypt, type KeyObject } from "node:crypto";
import { describe, test } from "node:test";
import {
  AnkaClient,
  checkControllerTls,
  decodeHandAnswer,
  encodeBearer,
  isEncryptedPrivateKey,
  parseUakPrivateKey,
  realClock,
  renewAfterMs,
  uakAuthentication,
} from "../../src/anka/index.ts";
import { HttpSender } from "../../src/net/http.ts";
import { scriptedServer, type Reply } from "../helpers/scripted-server.ts";

/** UAK key forms, bearer and hand encodings (reference §7.4), and the TLS settings checks. */
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PKCS1_PEM = privateKey.export({ type: "pkcs1", format: "pem" }) as string;
const PKCS8_PEM = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const BAD_KEY = "UAK private key is not a valid RSA private key: paste the PEM or its base64 body";

const bodyOf = (pem: string) => pem.split("\n").filter((line) => line && !line.startsWith("-----"));
const sameKey = (key: KeyObject) =>
  assert.deepEqual(
    key.export({ type: "pkcs1", format: "der" }),
    privateKey.export({ type: "pkcs1", format: "der" }),
  );

describe("UAK private key forms", () => {
  test("PKCS#1 and PKCS#8 PEM", () => {
    sameKey(parseUakPrivateKey(PKCS1_PEM));
    sameKey(parseUakPrivateKey(PKCS8_PEM));
  });

  test("the bare base64 body, with newlines, flattened, or with stray whitespace", () => {
    for (const pem of [PKCS1_PEM, PKCS8_PEM]) {
      const lines = bodyOf(pem);
      sameKey(parseUakPrivateKey(lines.join("\n")));
      sameKey(parseUakPrivateKey(lines.join("")));
      sameKey(parseUakPrivateKey(`  ${lines.join("\r\n ")}\n`));
    }
  });

  test("a PEM flattened onto one line by a form field, or with literal \\n", () => {
    sameKey(parseUakPrivateKey(PKCS1_PEM.replace(/\n/g, " ")));
    sameKey(parseUakPrivateKey(PKCS1_PEM.replace(/\n/g, "\\n")));
  });

  test("anything else is refused with the fix, never quoting the input", () => {
    const ecKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
    const notRsa = ecKey.export({ type: "pkcs8", format: "pem" }) as string;
    const truncated = bodyOf(PKCS1_PEM).slice(0, 5).join("");
    for (const text of ["", "secret-looking-text", notRsa, truncated, "-----BEGIN RSA PRIVATE KEY-----"]) {
      assert.throws(() => parseUakPrivateKey(text), { message: BAD_KEY });
    }
  });

  test("an encrypted key says so", () => {
    const encrypted = privateKey.export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "pw",
    }) as string;
    assert.throws(() => parseUakPrivateKey(encrypted), /UAK private key is encrypted/);
  });

  test("uakAuthentication checks the key and the id when built", () => {
    assert.throws(() => uakAuthentication({ id: "ci", privateKey: "nope" }), { message: BAD_KEY });
    assert.throws(() => uakAuthentication({ id: " ", privateKey: PKCS1_PEM }), /UAK id is empty/);
  });
});

describe("UAK encodings", () => {
  test("the bearer is standard base64 of the JSON of the shake's data", () => {
    const data = { userName: "ci", token: "t/k+n?", sessionId: "34c06a2b-141a-434a-5313-a06788f20957" };
    const bearer = encodeBearer(data);
    assert.equal(bearer, Buffer.from(JSON.stringify(data)).toString("base64"));
    assert.deepEqual(JSON.parse(Buffer.from(bearer, "base64").toString()), data);
  });

  test("the hand answer decodes from standard or URL-safe base64, bare or as a JSON string", () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xfe, 0x00, 0x3e, 0x3f, 0x7f]);
    for (const text of [
      bytes.toString("base64"),
      bytes.toString("base64url"),
      `${bytes.toString("base64")}\n`,
      JSON.stringify(bytes.toString("base64")),
    ]) {
      assert.deepEqual(decodeHandAnswer(text), bytes, text);
    }
    for (const text of ["", "<html>", '{"status":"FAIL"}', "a b"])
      assert.equal(decodeHandAnswer(text), undefined);
  });

  test("sessions are renewed a fifth of their life early, at most a minute", () => {
    assert.equal(renewAfterMs(300_000), 240_000);
    assert.equal(renewAfterMs(3_600_000), 3_540_000);
    assert.equal(renewAfterMs(1000), 800);
  });
});

describe("UAK handshake against a scripted controller", () => {
  test("a URL-safe hand answer works; a request refused with an old session reuses the newer one", async () => {
    let sessions = 0;
    const server = await scriptedServer((req): Reply => {
      if (req.url === "/tap/v1/hand") {
        const ciphertext = publicEncrypt(
          { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
          Buffer.from("59A8Zb8XxtsBNpJ-1KYFKOzQfv8"),
        );
        return { text: ciphertext.toString("base64url") };
      }
      if (req.url === "/tap/v1/shake") {
        assert.deepEqual(JSON.parse(req.body), { id: "ci", secret: "59A8Zb8XxtsBNpJ-1KYFKOzQfv8" });
        sessions++;
        return { json: { id: "ci", data: { userName: "ci", token: `token-${sessions}`, sessionId: "s" } } };
      }
      return { json: { status: "OK", message: "", body: { status: "Running" } } };
    });
    const client = new AnkaClient({
      url: server.url,
      auth: uakAuthentication({ id: "ci", privateKey: PKCS1_PEM }),
    });
    await client.status();
    const bearer = server.seen.at(-1)?.headers.authorization;
    assert.equal(bearer, `Bearer ${encodeBearer({ userName: "ci", token: "token-1", sessionId: "s" })}`);
    client.close();
    await server.close();
  });

  test("renew: a refusal of an older session needs no new handshake; of the current one, exactly one", async () => {
    let shakes = 0;
    const server = await scriptedServer((req): Reply => {
      if (req.url === "/tap/v1/hand") {
        const ciphertext = publicEncrypt(
          { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
          Buffer.from("secret"),
        );
        return { text: ciphertext.toString("base64") };
      }
      shakes++;
      return { json: { id: "ci", data: { userName: "ci", token: `token-${shakes}`, sessionId: "s" } } };
    });
    const baseUrl = new URL(server.url);
    const sender = new HttpSender(baseUrl);
    const post = async (path: string, body: unknown) => {
      const url = new URL(path, baseUrl);
      const headers = { "content-type": "application/json" };
      const response = await sender.send({
        method: "POST",
        url,
        headers,
        body: JSON.stringify(body),
        timeoutMs: 2000,
      });
      return { request: { method: "POST", url: url.toString() }, response };
    };
    const auth = uakAuthentication({ id: "ci", privateKey: PKCS1_PEM })({ baseUrl, clock: realClock, post });
    const first = await auth.headers();
    assert.equal(await auth.renew(first), true);
    assert.equal(shakes, 2);
    const second = await auth.headers();
    assert.notEqual(second.authorization, first.authorization);
    assert.equal(await auth.renew(first), true);
    assert.equal(shakes, 2, "the old session was already replaced");
    await Promise.all([auth.renew(second), auth.renew(second), auth.headers()]);
    assert.equal(shakes, 3, "concurrent renewals share one handshake");
    sender.close();
    await server.close();
  });
});

describe("controller TLS settings", () => {
  const https = new URL("https://anka.example.com:8090");
  test("a CA that is not PEM, a certificate without its key", () => {
    assert.throws(() => checkControllerTls(https, { ca: "/etc/ssl/ca.pem" }), /caCertificate.*not a PEM/);
    assert.throws(
      () => checkControllerTls(https, { cert: "x" }),
      /both the client certificate and its private key/,
    );
  });

  test("encrypted key markers: PKCS#8 and the traditional Proc-Type header", () => {
    assert.equal(isEncryptedPrivateKey("-----BEGIN ENCRYPTED PRIVATE KEY-----\n..."), true);
    const traditional = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n";
    assert.equal(isEncryptedPrivateKey(traditional), true);
    assert.equal(isEncryptedPrivateKey(PKCS1_PEM), false);
  });
});
