import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { unpackAgentPackage } from "../../emulator/agent-package/index.ts";
import { startAzureDevOpsEmulator, type AzureDevOpsEmulator } from "../../emulator/azdo/index.ts";
import { AzureDevOpsClient, AzureDevOpsPermissionError, registerAgentWithKey } from "../../src/azdo/index.ts";
import {
  createAgentKey,
  generateAgentPrivateKey,
  renderAgentFiles,
  type AgentFiles,
} from "../../src/bootstrap/index.ts";
import { preregisterAgent } from "../../src/core/index.ts";
import { agentPrivateKeyPem, EMULATOR_PATS } from "../helpers/secrets.ts";

/**
 * agentRegistration `preregistered` piece by piece, over real HTTP against the Azure DevOps
 * emulator and with the stand-in agent package, whose run.sh reads the three files as strictly as
 * the real agent (agent-registration.md §1-§4): the key file's format, registration and replace,
 * the token exchange and its refusals, `anka-azdo agent register|remove`, and run.sh's failures.
 */
const PAT = EMULATOR_PATS.manageAll;
const READ_PAT = EMULATOR_PATS.readOnly;
const ROOT = path.resolve(import.meta.dirname, "../..");
const RSA_NAMES = ["ContainerName", "UseCng", "d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"];
const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    child,
    done: new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr }))),
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The private key back from `.credentials_rsaparams` text, as the agent's loader reads it. */
function keyFromRsaParams(text: string): KeyObject {
  const params = JSON.parse(text) as Record<string, string>;
  const minimal = (value: string | undefined) => {
    const bytes = Buffer.from(value ?? "", "base64");
    let at = 0;
    while (at < bytes.length - 1 && bytes[at] === 0) at++;
    return bytes.subarray(at).toString("base64url");
  };
  const names = { n: "modulus", e: "exponent", d: "d", p: "p", q: "q", dp: "dp", dq: "dq", qi: "inverseQ" };
  const jwk = Object.fromEntries(
    Object.entries(names).map(([member, name]) => [member, minimal(params[name])]),
  );
  return createPrivateKey({ format: "jwk", key: { kty: "RSA", ...jwk } });
}

/** The client assertion as the agent builds it (§4.4): RS256, sub jti iss aud nbf exp, no iat. */
function clientAssertion(key: KeyObject, clientId: string, audience: string, nowSeconds: number): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ typ: "JWT", alg: "RS256" })}.${encode({
    sub: clientId,
    jti: randomUUID(),
    iss: clientId,
    aud: audience,
    nbf: nowSeconds,
    exp: nowSeconds + 300,
  })}`;
  return `${unsigned}.${sign("sha256", Buffer.from(unsigned), key).toString("base64url")}`;
}

async function exchange(
  tokenUrl: string,
  assertion: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
    }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("the agent key in the agent's own format", () => {
  test("RSAParameters names in order, .NET lengths, standard base64; a JWT signed from the file verifies", async () => {
    const fixed = createPrivateKey(agentPrivateKeyPem());
    for (const key of [
      createAgentKey(fixed),
      ...(await Promise.all(Array.from({ length: 4 }, generateAgentPrivateKey))).map(createAgentKey),
    ]) {
      const params = JSON.parse(key.rsaParamsFile) as Record<string, unknown>;
      assert.deepEqual(Object.keys(params), RSA_NAMES);
      assert.equal(params.ContainerName, "");
      assert.equal(params.UseCng, false);
      const bytes = (name: string) => Buffer.from(params[name] as string, "base64").length;
      for (const name of RSA_NAMES.slice(2)) assert.match(params[name] as string, STANDARD_BASE64, name);
      assert.equal(bytes("modulus"), 256);
      assert.equal(bytes("d"), 256);
      for (const name of ["p", "q", "dp", "dq", "inverseQ"]) assert.equal(bytes(name), 128, name);
      assert.equal(params.exponent, "AQAB");
      assert.equal(key.publicKey.modulus.length, 344);
      assert.deepEqual(key.publicKey, { exponent: params.exponent, modulus: params.modulus });
      assert.ok(
        !key.rsaParamsFile.endsWith("\n") && key.rsaParamsFile.includes('\n  "d": '),
        "indented, no final newline",
      );

      const data = Buffer.from("header.payload");
      const signature = sign("sha256", data, keyFromRsaParams(key.rsaParamsFile));
      const publicKey = createPublicKey({
        format: "jwk",
        key: {
          kty: "RSA",
          n: Buffer.from(key.publicKey.modulus, "base64").toString("base64url"),
          e: Buffer.from(key.publicKey.exponent, "base64").toString("base64url"),
        },
      });
      assert.ok(verify("sha256", data, publicKey, signature));
    }
    const { privateKey: small } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    assert.throws(() => createAgentKey(small), /at least 2048 bits/);
  });
});

describe("registration and the token exchange against the Azure DevOps emulator", () => {
  let emulator: AzureDevOpsEmulator;
  let azdo: AzureDevOpsClient;
  before(async () => {
    emulator = await startAzureDevOpsEmulator({
      tokens: [
        { token: PAT, manage: true },
        { token: READ_PAT, manage: false, owner: "Reader Person" },
      ],
    });
    azdo = new AzureDevOpsClient({ organizationUrl: emulator.url, pat: PAT });
  });
  after(async () => {
    azdo.close();
    await emulator.close();
  });

  const registration = (key: ReturnType<typeof createAgentKey>) => ({
    name: "anka-reg-1",
    version: "4.264.2",
    osDescription: "Darwin",
    publicKey: key.publicKey,
    systemCapabilities: { "Agent.Name": "anka-reg-1" },
    userCapabilities: { ANKA_AGENT_IDENTIFIER: "reg-1" },
  });

  test("a new name: GET, POST, user capabilities; the files say what config.sh would write", async () => {
    const pool = await azdo.findPool("Anka");
    const key = createAgentKey(createPrivateKey(agentPrivateKeyPem()));
    const before = emulator.requests.length;
    const registered = await registerAgentWithKey(azdo, pool, registration(key));
    assert.deepEqual(
      emulator.requests.slice(before).map((r) => `${r.method} ${r.path.replace(/^\/[^/]+\/_apis\//, "")}`),
      [
        "GET distributedtask/pools/10/agents",
        "POST distributedtask/pools/10/agents",
        `PUT distributedtask/pools/10/agents/${registered.id}/usercapabilities`,
      ],
    );
    const record = emulator.agents("Anka").find((a) => a.name === "anka-reg-1");
    assert.deepEqual(record?.userCapabilities, { ANKA_AGENT_IDENTIFIER: "reg-1" });
    assert.equal(record?.version, "4.264.2");

    const files = renderAgentFiles(registered, key.rsaParamsFile);
    assert.equal(
      files.agent,
      JSON.stringify(
        {
          acceptTeeEula: true,
          agentId: registered.id,
          agentName: "anka-reg-1",
          poolId: 10,
          poolName: "Anka",
          serverUrl: `${emulator.url}/`,
          workFolder: "_work",
        },
        null,
        2,
      ),
    );
    const credentials = JSON.parse(files.credentials) as { scheme: string; data: Record<string, string> };
    assert.deepEqual(Object.keys(credentials.data), ["clientId", "authorizationUrl", "oauthEndpointUrl"]);
    assert.equal(credentials.scheme, "OAuth");
    assert.match(credentials.data.clientId ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(credentials.data.authorizationUrl, `${emulator.url}/_apis/oauth2/token`);
    assert.equal(files.credentials.includes(PAT), false);
  });

  test("the same name again replaces the agent (same id): the old key is refused, the new one accepted", async () => {
    const pool = await azdo.findPool("Anka");
    const oldKey = createAgentKey(createPrivateKey(agentPrivateKeyPem()));
    const first = await registerAgentWithKey(azdo, pool, { ...registration(oldKey), name: "anka-reg-2" });
    const newKey = createAgentKey(await generateAgentPrivateKey());
    const before = emulator.requests.length;
    const second = await registerAgentWithKey(azdo, pool, { ...registration(newKey), name: "anka-reg-2" });
    assert.equal(second.id, first.id);
    assert.deepEqual(
      emulator.requests.slice(before).map((r) => r.method),
      ["GET", "PUT", "PUT"],
    );
    assert.equal(emulator.agents("Anka").filter((a) => a.name === "anka-reg-2").length, 1);
    const now = Math.round(Date.now() / 1000);
    const stale = await exchange(
      second.oauthEndpointUrl,
      clientAssertion(keyFromRsaParams(oldKey.rsaParamsFile), second.clientId, second.authorizationUrl, now),
    );
    assert.equal(stale.status, 400);
    assert.equal(stale.body.error, "invalid_client");
    const fresh = await exchange(
      second.oauthEndpointUrl,
      clientAssertion(keyFromRsaParams(newKey.rsaParamsFile), second.clientId, second.authorizationUrl, now),
    );
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
    assert.equal(typeof fresh.body.access_token, "string");
  });

  test("a POST that meets an agent registered meanwhile (409) replaces it instead of failing", async () => {
    const pool = await azdo.findPool("Anka");
    emulator.addFault({ method: "POST", pathIncludes: "/pools/10/agents", kind: "delay", delayMs: 400 });
    // Both keys first: generating one can take longer than the delay on a busy machine.
    const [mineKey, theirsKey] = await Promise.all([generateAgentPrivateKey(), generateAgentPrivateKey()]);
    const mine = createAgentKey(mineKey);
    const theirs = createAgentKey(theirsKey);
    const slow = registerAgentWithKey(azdo, pool, { ...registration(mine), name: "anka-reg-race" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const other = await registerAgentWithKey(azdo, pool, { ...registration(theirs), name: "anka-reg-race" });
    const registered = await slow;
    assert.equal(registered.id, other.id);
    const record = emulator.agents("Anka").find((a) => a.name === "anka-reg-race");
    assert.equal(record?.id, other.id);
    const now = Math.round(Date.now() / 1000);
    const answer = await exchange(
      registered.oauthEndpointUrl,
      clientAssertion(
        keyFromRsaParams(mine.rsaParamsFile),
        registered.clientId,
        registered.authorizationUrl,
        now,
      ),
    );
    assert.equal(answer.status, 200, "the slow registration's key is the one that counts");
  });

  test("the token endpoint refuses a wrong signature, an unknown client id and an expired assertion", async () => {
    const pool = await azdo.findPool("Anka");
    const key = createAgentKey(await generateAgentPrivateKey());
    const agent = await registerAgentWithKey(azdo, pool, { ...registration(key), name: "anka-reg-3" });
    const own = keyFromRsaParams(key.rsaParamsFile);
    const other = keyFromRsaParams(createAgentKey(await generateAgentPrivateKey()).rsaParamsFile);
    const now = Math.round(Date.now() / 1000);
    const cases: Array<[string, string]> = [
      ["a wrong signature", clientAssertion(other, agent.clientId, agent.authorizationUrl, now)],
      ["an unknown client id", clientAssertion(own, randomUUID(), agent.authorizationUrl, now)],
      ["an expired assertion", clientAssertion(own, agent.clientId, agent.authorizationUrl, now - 3600)],
    ];
    for (const [what, assertion] of cases) {
      const answer = await exchange(agent.oauthEndpointUrl, assertion);
      assert.equal(answer.status, 400, what);
      assert.equal(answer.body.error, "invalid_client", what);
      assert.equal(typeof answer.body.error_description, "string", what);
    }
    assert.equal(
      (
        await exchange(
          agent.oauthEndpointUrl,
          clientAssertion(own, agent.clientId, agent.authorizationUrl, now),
        )
      ).status,
      200,
    );
  });

  test("a PAT without Manage on the pool cannot pre-register: a clear error, nothing registered", async () => {
    const reader = new AzureDevOpsClient({ organizationUrl: emulator.url, pat: READ_PAT });
    try {
      const pool = await reader.findPool("Anka");
      await assert.rejects(
        preregisterAgent(reader, {
          pool,
          agentName: "anka-reg-4",
          agentIdentifier: "reg-4",
          agentVersion: "4.264.2",
          arch: "arm64",
        }),
        (error: Error) =>
          error instanceof AzureDevOpsPermissionError && /cannot manage pool "Anka"/.test(error.message),
      );
      assert.equal(
        emulator.agents("Anka").some((a) => a.name === "anka-reg-4"),
        false,
      );
    } finally {
      reader.close();
    }
  });
});

describe("anka-azdo agent register|remove and the stand-in agent's run.sh", () => {
  let emulator: AzureDevOpsEmulator;
  let work: string;
  const children: ChildProcess[] = [];
  before(async () => {
    emulator = await startAzureDevOpsEmulator({ tokens: [{ token: PAT, manage: true }], longPollMs: 300 });
    work = await mkdtemp(path.join(os.tmpdir(), "agent-register-"));
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await emulator.close();
    await rm(work, { recursive: true, force: true });
  });

  async function unpackedAgent(name: string): Promise<string> {
    const listing = (await (
      await fetch(`${emulator.url}/_apis/distributedtask/packages/agent?platform=osx-arm64&$top=1`, {
        headers: { authorization: `Basic ${Buffer.from(`:${PAT}`).toString("base64")}` },
      })
    ).json()) as { value: { downloadUrl: string }[] };
    const tarball = path.join(work, `${name}.tar.gz`);
    await writeFile(
      tarball,
      Buffer.from(await (await fetch(listing.value[0]?.downloadUrl ?? "")).arrayBuffer()),
    );
    const dir = path.join(work, name);
    await unpackAgentPackage(tarball, dir);
    return dir;
  }

  const cli = (args: string[]) =>
    start(process.execPath, [path.join(ROOT, "bin", "anka-azdo.mjs"), ...args], {
      PATH: process.env.PATH,
      HOME: work,
      AZP_URL: emulator.url,
      AZP_TOKEN: PAT,
      AZP_POOL: "Anka",
    }).done;
  const agentEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", AGENT_ALLOW_RUNASROOT: "1" };

  test("register writes the files into an unpacked package; run.sh --once comes online and runs a job; remove deletes", async () => {
    const dir = await unpackedAgent("confirm");
    const registered = await cli(["agent", "register", "--dir", dir, "--identifier", "confirm-1"]);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stdout, /Registered agent anka-confirm-1 in pool "Anka"/);
    assert.match(registered.stdout, /cd .* && \.\/run\.sh --once/);
    for (const file of [".agent", ".credentials", ".credentials_rsaparams"])
      assert.ok((await readFile(path.join(dir, file), "utf8")).startsWith("\uFEFF"), file);
    assert.equal((await stat(path.join(dir, ".credentials_rsaparams"))).mode & 0o777, 0o600);
    const agent = emulator.agents("Anka").find((a) => a.name === "anka-confirm-1");
    assert.equal(agent?.version, "4.264.2", "the version bin/Agent.Listener reports");
    assert.equal(agent?.userCapabilities.ANKA_AGENT_IDENTIFIER, "confirm-1");

    const again = await cli(["agent", "register", "--dir", dir, "--identifier", "confirm-1"]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds a configured agent/);

    const listener = start(path.join(dir, "run.sh"), ["--once"], agentEnv);
    children.push(listener.child);
    await until(
      "the agent is online",
      () => emulator.agents("Anka").find((a) => a.name === "anka-confirm-1")?.status === "online",
    );
    const job = emulator.queueJob("Anka", ["ANKA_AGENT_IDENTIFIER -equals confirm-1"], { durationMs: 100 });
    const result = await listener.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(emulator.job(job.requestId)?.result, "succeeded");
    // §4.2: the listener's first request goes out bare, the 401 challenge names Bearer, then the
    // token request (no credential), then the same request with the token.
    const byAgent = emulator.requests.filter((r) =>
      String(r.headers["user-agent"]).startsWith("VstsAgentCore"),
    );
    assert.deepEqual(
      byAgent
        .slice(0, 3)
        .map((r) => `${r.method} ${r.path.replace(/^.*\/_apis\//, "")} ${r.headers.authorization ?? "-"}`),
      [
        "POST distributedtask/pools/10/sessions -",
        "POST oauth2/token -",
        "POST distributedtask/pools/10/sessions Bearer",
      ],
    );

    const removed = await cli(["agent", "remove", "--name", "anka-confirm-1", "--dir", dir]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed 1 agent record/);
    assert.equal(
      emulator.agents("Anka").some((a) => a.name === "anka-confirm-1"),
      false,
    );
    await assert.rejects(stat(path.join(dir, ".credentials_rsaparams")));
  });

  test("run.sh fails as the real agent does on a missing or malformed field", async () => {
    const azdo = new AzureDevOpsClient({ organizationUrl: emulator.url, pat: PAT });
    const pool = await azdo.findPool("Anka");
    const files = await preregisterAgent(
      azdo,
      { pool, agentName: "anka-strict", agentIdentifier: "strict", agentVersion: "4.264.2", arch: "arm64" },
      { privateKey: createPrivateKey(agentPrivateKeyPem()) },
    );
    azdo.close();
    const edit = (text: string, change: (value: Record<string, unknown>) => void) => {
      const value = JSON.parse(text) as Record<string, unknown>;
      change(value);
      return JSON.stringify(value, null, 2);
    };
    const toBase64Url = (value: Record<string, unknown>) => {
      for (const name of ["d", "p", "q"])
        value[name] = Buffer.from(value[name] as string, "base64").toString("base64url");
    };
    const cases: Array<[string, Partial<Record<keyof AgentFiles, string | null>>, number, RegExp]> = [
      ["no .agent", { agent: null }, 2, /An error occurred: Not configured/],
      ["no .credentials", { credentials: null }, 2, /Credentials not stored/],
      ["no key file", { rsaParams: null }, 2, /RSA key file .*\.credentials_rsaparams was not found/],
      ["no serverUrl", { agent: edit(files.agent, (v) => delete v.serverUrl) }, 2, /uriString/],
      [
        "no clientId",
        { credentials: edit(files.credentials, (v) => delete (v.data as Record<string, unknown>).clientId) },
        2,
        /clientId/,
      ],
      [
        "the runner's casing",
        { rsaParams: edit(files.rsaParams, (v) => ((v.D = v.d), delete v.d)) },
        2,
        /Member 'd' was not found/,
      ],
      [
        "base64url values",
        { rsaParams: edit(files.rsaParams, toBase64Url) },
        2,
        /not a valid Base-64 string/,
      ],
      [
        "another key",
        { rsaParams: createAgentKey(await generateAgentPrivateKey()).rsaParamsFile },
        1,
        /signature is not valid/,
      ],
    ];
    for (const [what, change, code, message] of cases) {
      const dir = await unpackedAgent(`strict-${cases.findIndex((c) => c[0] === what)}`);
      const names = {
        agent: ".agent",
        credentials: ".credentials",
        rsaParams: ".credentials_rsaparams",
      } as const;
      for (const [field, name] of Object.entries(names) as Array<[keyof AgentFiles, string]>) {
        const content = field in change ? change[field] : files[field];
        if (content !== null && content !== undefined)
          await writeFile(path.join(dir, name), `\uFEFF${content}`);
      }
      const run = await start(path.join(dir, "run.sh"), ["--once"], agentEnv).done;
      assert.equal(run.code, code, `${what}: ${run.stdout}${run.stderr}`);
      assert.match(run.stdout + run.stderr, message, what);
    }
  });
});
