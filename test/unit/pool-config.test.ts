import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { loadPoolConfig, parsePoolConfig, PoolConfigError } from "../../src/pool/config.ts";

const ENV = { AZP_TOKEN: "pat-from-env", ANKA_ROOT_TOKEN: "root-token-123" };

const MINIMAL = `
controller: { url: https://anka.example.com:8090 }
azureDevOps: { url: https://dev.azure.com/contoso, token: \${AZP_TOKEN}, pool: macOS }
classes:
  - { name: sonoma, template: sonoma-14, max: 4 }
`;

function fails(text: string, pattern: RegExp, env: Record<string, string> = ENV): void {
  assert.throws(
    () => parsePoolConfig(text, env, "pool.yml"),
    (error: unknown) => {
      assert.ok(error instanceof PoolConfigError, `not a PoolConfigError: ${String(error)}`);
      assert.match(error.message, pattern);
      assert.match(error.message, /^pool\.yml: /, "the message names the file");
      return true;
    },
  );
}

test("a minimal config gets the defaults; secrets come from the environment", () => {
  const config = parsePoolConfig(MINIMAL, ENV, "pool.yml");
  assert.equal(config.pool, "macOS");
  assert.equal(config.pollSeconds, 10);
  assert.equal(config.maxVms, 4, "maxVms defaults to the sum of the classes' max");
  assert.equal(config.startTimeoutMinutes, 30);
  assert.equal(config.agentTimeoutMinutes, 10);
  assert.equal(config.logLevel, "info");
  assert.equal(config.http, undefined);
  assert.deepEqual(config.connection.auth, { kind: "none" });
  assert.equal(config.connection.controllerUrl, "https://anka.example.com:8090");
  assert.equal(config.connection.agent.pat, "pat-from-env");
  assert.equal(config.connection.agent.azureDevOpsUrl, "https://dev.azure.com/contoso");
  assert.deepEqual(config.classes, [
    {
      name: "sonoma",
      template: "sonoma-14",
      max: 4,
      standby: 0,
      idleMinutes: 15,
      capabilities: ["anka-class", "anka-template", "anka-template-id", "anka-template-tag"],
    },
  ]);
});

test("the example config in deploy/ is valid", () => {
  const file = new URL("../../deploy/pool.example.yml", import.meta.url);
  const config = parsePoolConfig(
    readFileSync(file, "utf8"),
    { ...ENV, ANKA_UAK_KEY: "k" },
    "deploy/pool.example.yml",
  );
  assert.ok(config.classes.length >= 2, "the example shows more than one class");
  assert.equal(config.connection.auth.kind, "rootToken");
});

test("every field, the auth forms, files relative to the config, and $${ for a literal", () => {
  const folder = mkdtempSync(path.join(os.tmpdir(), "pool-config-"));
  try {
    writeFileSync(path.join(folder, "ca.pem"), "CA PEM");
    writeFileSync(path.join(folder, "client.pem"), "CERT PEM");
    writeFileSync(path.join(folder, "client-key.pem"), "KEY PEM");
    writeFileSync(path.join(folder, "uak.pem"), "UAK PEM");
    const file = path.join(folder, "pool.yml");
    const write = (auth: string) =>
      writeFileSync(
        file,
        `
controller:
  url: https://anka.example.com:8090/
  auth: ${auth}
  caCertificate: ca.pem
azureDevOps: { url: "https://dev.azure.com/contoso", token: "\${AZP_TOKEN}", pool: "macOS $\${literal}" }
agent: { user: builder, path: ~/agent, proxyUrl: http://proxy:3128 }
pollSeconds: 2.5
maxVms: 12
startTimeoutMinutes: 20
agentTimeoutMinutes: 5
http: { host: 0.0.0.0, port: 9464 }
logLevel: debug
classes:
  - name: ios
    template: 6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c
    tag: xcode-15
    max: 8
    standby: 2
    idleMinutes: 30
    nodeGroup: ios-builders
    priority: 100
    vcpu: 6
    vram: 12288
    capabilities: [anka-template-id, anka-template-tag]
  - { name: macos, template: sequoia-15, max: 4 }
`,
      );
    write("{ rootToken: ${ANKA_ROOT_TOKEN} }");
    const config = loadPoolConfig(file, ENV);
    assert.deepEqual(config.connection.auth, { kind: "rootToken", token: "root-token-123" });
    assert.equal(config.connection.caCertificate, "CA PEM");
    assert.equal(config.connection.controllerUrl, "https://anka.example.com:8090");
    assert.equal(config.pool, "macOS ${literal}");
    assert.equal(config.connection.agent.agentUser, "builder");
    assert.equal(config.connection.agent.agentProxyUrl, "http://proxy:3128");
    assert.deepEqual(config.http, { host: "0.0.0.0", port: 9464 });
    assert.equal(config.pollSeconds, 2.5);
    assert.equal(config.maxVms, 12);
    assert.equal(config.logLevel, "debug");
    const [ios] = config.classes;
    assert.deepEqual(ios, {
      name: "ios",
      template: "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c",
      tag: "xcode-15",
      max: 8,
      standby: 2,
      idleMinutes: 30,
      nodeGroup: "ios-builders",
      priority: 100,
      vcpu: 6,
      vram: 12288,
      capabilities: ["anka-class", "anka-template-id", "anka-template-tag"],
    });

    write("{ certificate: { certificateFile: client.pem, keyFile: client-key.pem } }");
    assert.deepEqual(loadPoolConfig(file, ENV).connection.auth, {
      kind: "certificate",
      certificate: "CERT PEM",
      privateKey: "KEY PEM",
    });
    write("{ uak: { id: builder-key, keyFile: uak.pem } }");
    assert.deepEqual(loadPoolConfig(file, ENV).connection.auth, {
      kind: "uak",
      id: "builder-key",
      privateKey: "UAK PEM",
    });
    write("{ uak: { id: builder-key, privateKey: ${UAK} } }");
    assert.deepEqual(loadPoolConfig(file, { ...ENV, UAK: "-----BEGIN-----" }).connection.auth, {
      kind: "uak",
      id: "builder-key",
      privateKey: "-----BEGIN-----",
    });
    write("none");
    assert.deepEqual(loadPoolConfig(file, ENV).connection.auth, { kind: "none" });
    write("{ certificate: { certificateFile: nowhere.pem, keyFile: client-key.pem } }");
    assert.throws(
      () => loadPoolConfig(file, ENV),
      /controller\.auth\.certificate\.certificateFile names .*nowhere\.pem, which cannot be read \(ENOENT\)/,
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  assert.throws(
    () => loadPoolConfig(path.join(folder, "gone.yml"), ENV),
    /Cannot read the pool service config .*gone\.yml: ENOENT/,
  );
});

test("mistakes name the key and the fix", () => {
  fails(
    MINIMAL.replace("${AZP_TOKEN}", "${MISSING}"),
    /azureDevOps\.token refers to the environment variable MISSING, which is not set/,
  );
  fails(
    MINIMAL.replace("${AZP_TOKEN}", "plain-text-pat"),
    /azureDevOps\.token is a secret and must be an environment variable reference such as \$\{AZP_TOKEN\}/,
  );
  fails(
    MINIMAL.replace(
      "controller: { url: https://anka.example.com:8090 }",
      "controller: { url: https://anka.example.com:8090, auth: { rootToken: hunter22 } }",
    ),
    /controller\.auth\.rootToken is a secret/,
  );
  fails(
    MINIMAL.replace("controller: {", "controler: {"),
    /controler is not a known key in the top level\. Known keys: controller, azureDevOps/,
  );
  fails(
    MINIMAL.replace("max: 4", "max: 4, Standby: 1"),
    /classes\[0\]\.Standby is not a known key in classes\[0\]: did you mean standby\?/,
  );
  fails(MINIMAL.replace("max: 4", "max: 0"), /classes\[0\]\.max must be a whole number, 1 or more; got 0/);
  fails(
    MINIMAL.replace("max: 4", "max: 2, standby: 3"),
    /classes\[0\]\.standby asks for 3 warm VMs, more than max \(2\)/,
  );
  fails(
    MINIMAL.replace("max: 4 }", "max: 4 }\n  - { name: SONOMA, template: t, max: 1 }"),
    /classes\[1\]\.name "SONOMA" is used twice \(also classes\[0\]\)/,
  );
  fails(
    MINIMAL.replace("name: sonoma", "name: my class"),
    /classes\[0\]\.name "my class" is not a usable class name/,
  );
  fails(MINIMAL.replace("name: sonoma", "name: placeholder"), /"placeholder" is reserved/);
  fails(
    MINIMAL.replace("max: 4", "max: 4, capabilities: [anka-node]"),
    /classes\[0\]\.capabilities has "anka-node", which is not one of anka-class/,
  );
  fails(
    MINIMAL.replace("max: 4", "max: 4, priority: 0"),
    /classes\[0\]\.priority must be a whole number, from 1 to 10000/,
  );
  fails(MINIMAL.replace("template: sonoma-14, ", ""), /classes\[0\]\.template is required/);
  fails(MINIMAL.replace(/classes:[\s\S]*/, "classes: []"), /classes must be a list with at least one class/);
  fails(
    `${MINIMAL}maxVms: 2\n`.replace("max: 4", "max: 4, standby: 3"),
    /maxVms is 2, but the classes' standby VMs add up to 3/,
  );
  fails(
    MINIMAL.replace("https://anka.example.com:8090", "anka.example.com"),
    /controller\.url "anka\.example\.com" is not a URL/,
  );
  fails(
    MINIMAL.replace("https://anka.example.com:8090", "ftp://anka"),
    /controller\.url "ftp:\/\/anka" must start with https:\/\/ or http:\/\//,
  );
  fails(`${MINIMAL}pollSeconds: soon\n`, /pollSeconds must be a number, 0\.05 or more; got "soon"/);
  fails(`${MINIMAL}logLevel: loud\n`, /logLevel is "loud"; use debug, info or warn/);
  fails(`${MINIMAL}http: { host: 127.0.0.1 }\n`, /http\.port is required/);
  fails(
    MINIMAL.replace(
      "controller: { url: https://anka.example.com:8090 }",
      "controller: { url: https://a:1, auth: { rootToken: ${ANKA_ROOT_TOKEN}, uak: { id: x } } }",
    ),
    /controller\.auth must hold exactly one of rootToken, certificate or uak; it has rootToken and uak/,
  );
  fails(`${MINIMAL}\nclasses: []`, /not valid YAML/);
  fails("- just\n- a list\n", /must be a mapping/);
});

test("the contract's flow form works, and a secret's characters never change the YAML", () => {
  const secret = `a: b # 'c' "d" {e} \${f} \\n`;
  const config = parsePoolConfig(
    `
controller:
  url: https://anka.example.com:8090
  auth: { rootToken: \${ANKA_ROOT_TOKEN} }
azureDevOps: { url: https://dev.azure.com/contoso, token: "\${AZP_TOKEN}", pool: macOS }
classes: [{ name: a, template: t, max: 1 }]
`,
    { AZP_TOKEN: secret, ANKA_ROOT_TOKEN: "root-${x}" },
  );
  assert.equal(config.connection.agent.pat, secret.trim());
  assert.deepEqual(config.connection.auth, { kind: "rootToken", token: "root-${x}" });
});

test("hooks: basic authentication on POST /hooks, the password from the environment, only with http", () => {
  const env = { ...ENV, HOOKS: "a-long-random-hooks-secret" };
  const config = parsePoolConfig(
    `${MINIMAL}http: { port: 0 }\nhooks: { password: \${HOOKS} }\n`,
    env,
    "pool.yml",
  );
  assert.deepEqual(config.hooks, { username: "anka-pool", password: "a-long-random-hooks-secret" });
  const named = parsePoolConfig(
    `${MINIMAL}http: { port: 0 }\nhooks: { username: azdo, password: \${HOOKS} }\n`,
    env,
  );
  assert.equal(named.hooks?.username, "azdo");
  fails(`${MINIMAL}hooks: { password: \${HOOKS} }\n`, /hooks needs http/, env);
  fails(
    `${MINIMAL}http: { port: 0 }\nhooks: { password: a-long-random-hooks-secret }\n`,
    /hooks\.password is a secret and must be an environment variable reference/,
    env,
  );
  fails(
    `${MINIMAL}http: { port: 0 }\nhooks: { password: \${SHORT} }\n`,
    /hooks\.password is shorter than 16/,
    {
      ...env,
      SHORT: "short",
    },
  );
  fails(`${MINIMAL}http: { port: 0 }\nhooks: { pasword: \${HOOKS} }\n`, /pasword/, env);
});
