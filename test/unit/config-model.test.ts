import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { loadConfig } from "../../src/cli/config.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { loadPoolConfig } from "../../src/pool/config.ts";
import { PAT } from "../helpers/secrets.ts";

/** The one model: the CLI's loader and the pool service's read the same sections the same way. */
const dir = mkdtempSync(path.join(tmpdir(), "anka-config-model-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SHARED = [
  "controller: { url: https://anka.example.com:8090 }",
  "azureDevOps: { url: https://dev.azure.com/contoso, token: '${AZP_TOKEN}', pool: macOS }",
];
const POOL_ONLY = [
  "pollSeconds: 5",
  "http: { port: 0 }",
  "classes: [{ name: sonoma, template: sonoma-14, max: 2 }]",
];

function write(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  return file;
}

function cli(file: string, flags: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  return loadConfig({
    flags: { config: file, ...flags },
    env: { AZP_TOKEN: PAT, ...env },
    cwd: dir,
    home: dir,
    needs: {},
  });
}

function bothFail(file: string, pattern: RegExp): void {
  const check = (error: unknown) => error instanceof ConfigError && pattern.test(error.message);
  assert.throws(() => cli(file), check, "the CLI");
  assert.throws(() => loadPoolConfig(file, { AZP_TOKEN: PAT }), check, "the pool service");
}

test("a pool file is a CLI config: the shared sections are read alike, the pool's own ignored", () => {
  const file = write("pool.yml", [
    ...SHARED,
    "agent: { registration: preregistered, user: builder }",
    ...POOL_ONLY,
  ]);
  const fromCli = cli(file).connection;
  const fromPool = loadPoolConfig(file, { AZP_TOKEN: PAT }).connection;
  for (const connection of [fromCli, fromPool]) {
    assert.equal(connection.controllerUrl, "https://anka.example.com:8090");
    assert.equal(connection.agent.pool, "macOS");
    assert.equal(connection.agent.pat, PAT);
    assert.equal(connection.agent.agentUser, "builder");
    assert.equal(connection.agent.registration, "preregistered");
  }
});

test("agent.registration: flag over environment over file; absent means the default (inVm)", () => {
  const file = write("registration.yml", [...SHARED, "agent: { registration: preregistered }"]);
  assert.equal(cli(file).connection.agent.registration, "preregistered");
  assert.equal(cli(file, {}, { AZP_AGENT_REGISTRATION: "inVm" }).connection.agent.registration, "inVm");
  assert.equal(
    cli(file, { agentRegistration: "preregistered" }, { AZP_AGENT_REGISTRATION: "inVm" }).connection.agent
      .registration,
    "preregistered",
  );
  assert.equal(cli(write("plain.yml", SHARED)).connection.agent.registration, undefined);
});

test("a wrong value names where it came from and the values allowed", () => {
  const file = write("bad-registration.yml", [...SHARED, "agent: { registration: vm }"]);
  bothFail(file, /bad-registration\.yml: agent\.registration is "vm"; use inVm or preregistered\./);
  assert.throws(
    () => cli(write("plain2.yml", SHARED), {}, { AZP_AGENT_REGISTRATION: "outside" }),
    /: AZP_AGENT_REGISTRATION is "outside"; use inVm or preregistered\.$/,
  );
  assert.throws(
    () => cli(write("plain3.yml", SHARED), { agentRegistration: "x" }),
    /: --agent-registration is "x"; use inVm or preregistered\.$/,
  );
});

test("one set of messages: typos, missing variables and unreadable files read the same in both", () => {
  bothFail(
    write("typo.yml", [...SHARED, "agent: { usr: builder }"]),
    /typo\.yml: agent\.usr is not a known key in agent\. Known keys: user, path/,
  );
  bothFail(
    write("case.yml", [...SHARED, "Agent: { user: builder }"]),
    /case\.yml: Agent is not a known key in the top level: did you mean agent\?/,
  );
  bothFail(
    write("moved.yml", [...SHARED, "startupScriptFile: setup.sh"]),
    /moved\.yml: startupScriptFile is not a known key in the top level: did you mean agent\.startupScriptFile\?/,
  );
  bothFail(
    write("missing-var.yml", [...SHARED, "agent: { user: '${NO_SUCH_VARIABLE}' }"]),
    /agent\.user refers to the environment variable NO_SUCH_VARIABLE, which is not set/,
  );
  bothFail(
    write("ca.yml", ["controller: { url: https://a:1, caCertificate: nowhere.pem }", SHARED[1] as string]),
    /ca\.yml: controller\.caCertificate names .*nowhere\.pem, which cannot be read \(ENOENT\)\. .*config file's folder/,
  );
});

test("secrets: the pool service takes only ${ENV}; the CLI takes one in clear from a private file", () => {
  const file = write("clear.yml", [
    SHARED[0] as string,
    `azureDevOps: { url: https://x.example, token: tok3n, pool: p }`,
  ]);
  assert.throws(
    () => loadPoolConfig(file, {}),
    /clear\.yml: azureDevOps\.token is a secret and must be an environment variable reference/,
  );
  const loaded = cli(file, {}, { AZP_TOKEN: undefined });
  assert.equal(loaded.connection.agent.pat, "tok3n");
  assert.deepEqual(loaded.warnings, [], "no warning for a file only its owner reads");
});
