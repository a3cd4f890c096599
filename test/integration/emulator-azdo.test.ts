// The Azure DevOps emulator over real HTTP, and the stand-in agent package driven through its own
// config.sh / run.sh against it.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { unpackAgentPackage } from "../../emulator/agent-package/index.ts";
import { startAzureDevOpsEmulator, type AzureDevOpsEmulator } from "../../emulator/azdo/index.ts";
import { EMULATOR_PATS } from "../helpers/secrets.ts";

const { manageAll: PAT, readOnly: READ_PAT, ankaOnly: ANKA_PAT } = EMULATOR_PATS;
const basic = (token: string, user = "") => `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;

interface Answer {
  status: number;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

async function call(
  emulator: AzureDevOpsEmulator,
  method: string,
  apiPath: string,
  options: {
    token?: string | null;
    body?: unknown;
    apiVersion?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const url = new URL(`${emulator.url}/_apis/${apiPath}`);
  const apiVersion = options.apiVersion === undefined ? "7.1" : options.apiVersion;
  if (apiVersion !== null) url.searchParams.set("api-version", apiVersion);
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? PAT : options.token;
  if (token !== null) headers.authorization = basic(token);
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    json: text ? JSON.parse(text) : undefined,
    headers: response.headers,
  };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(25);
  }
}

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startScript(
  file: string,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; done: Promise<ScriptResult> } {
  const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ScriptResult>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

const runScript = (file: string, args: string[], env: Record<string, string>) =>
  startScript(file, args, env).done;

/** What the startup script gives config.sh: no PAT on the command line, and root allowed since tests run as root. */
const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  AGENT_ALLOW_RUNASROOT: "1",
});

async function allFilesText(dir: string): Promise<string> {
  let text = "";
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    text += await readFile(path.join(entry.parentPath, entry.name), "utf8").catch(() => "");
  }
  return text;
}

describe("Azure DevOps emulator REST API", { timeout: 20_000 }, () => {
  let emulator: AzureDevOpsEmulator;
  before(async () => {
    emulator = await startAzureDevOpsEmulator({
      tokens: [
        { token: PAT, manage: true },
        { token: READ_PAT, manage: false, owner: "Reader Person" },
        { token: ANKA_PAT, manage: ["anka"], owner: "Anka Admin" },
      ],
      longPollMs: 300,
      offlineAfterMs: 600,
    });
  });
  after(() => emulator.close());

  test("serves the organization at /<org> on loopback", () => {
    assert.match(emulator.url, /^http:\/\/127\.0\.0\.1:\d+\/contoso$/);
  });

  test("401 with an empty body and auth challenges when the token is missing or unknown", async () => {
    for (const token of [null, "not-a-known-pat"]) {
      const answer = await call(emulator, "GET", "connectionData", {
        token,
        headers: { "X-TFS-FedAuthRedirect": "Suppress" },
      });
      assert.equal(answer.status, 401);
      assert.equal(answer.text, "");
      assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer .*Basic realm=/);
    }
  });

  test("203 with an HTML sign-in page for bad credentials without X-TFS-FedAuthRedirect: Suppress", async () => {
    const url = new URL(`${emulator.url}/_apis/distributedtask/pools?api-version=7.1`);
    const response = await fetch(url, { headers: { authorization: basic("not-a-known-pat") } });
    assert.equal(response.status, 203);
    assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await response.text(), /Sign In/);
  });

  test("accepts the PAT as Basic password with any user name", async () => {
    for (const user of ["", "VstsAgent", "anyone"]) {
      const response = await fetch(`${emulator.url}/_apis/connectionData`, {
        headers: { authorization: basic(PAT, user) },
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as {
        deploymentType: string;
        authenticatedUser: { providerDisplayName: string };
      };
      assert.equal(body.deploymentType, "hosted");
      assert.equal(body.authenticatedUser.providerDisplayName, "Emulated User");
    }
  });

  test("api-version: optional on GET, required on writes, from the query or the Accept header, 7.2 at most", async () => {
    assert.equal((await call(emulator, "GET", "distributedtask/pools", { apiVersion: null })).status, 200);
    const missing = await call(emulator, "POST", "distributedtask/pools/10/agents", {
      apiVersion: null,
      body: { name: "x" },
    });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.typeKey, "VssVersionNotSpecifiedException");
    assert.equal(
      missing.json.message,
      "No api-version was supplied for the POST request. Please specify an api-version.",
    );
    const tooNew = await call(emulator, "GET", "distributedtask/pools", { apiVersion: "8.0" });
    assert.equal(tooNew.status, 400);
    assert.equal(tooNew.json.typeKey, "VssVersionOutOfRangeException");
    const viaAccept = await call(emulator, "POST", "distributedtask/pools/1/agents", {
      apiVersion: null,
      headers: { accept: "application/json;api-version=7.2-preview.1" },
      body: { name: "accept-header-agent", version: "4.264.2" },
    });
    assert.equal(viaAccept.status, 200);
    assert.equal(
      (await call(emulator, "DELETE", `distributedtask/pools/1/agents/${viaAccept.json.id}`)).status,
      204,
    );
  });

  test("lists pools filtered by name (case-insensitive) and gets one by id; unknown id is 404", async () => {
    const all = await call(emulator, "GET", "distributedtask/pools");
    assert.deepEqual(
      all.json.value.map((pool: { id: number; name: string }) => [pool.id, pool.name]),
      [
        [1, "Default"],
        [10, "Anka"],
      ],
    );
    assert.equal(all.json.count, 2);
    const filtered = await call(emulator, "GET", "distributedtask/pools?poolName=anka&poolType=Automation");
    assert.equal(filtered.json.count, 1);
    assert.equal(filtered.json.value[0].id, 10);
    assert.equal(filtered.json.value[0].isHosted, false);
    assert.equal((await call(emulator, "GET", "distributedtask/pools?poolName=nope")).json.count, 0);
    const one = await call(emulator, "GET", "distributedtask/pools/10", { token: READ_PAT });
    assert.equal(one.json.name, "Anka");
    const missing = await call(emulator, "GET", "distributedtask/pools/99");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.typeKey, "TaskAgentPoolNotFoundException");
    assert.equal(missing.json.message, "No agent pool found with identifier 99.");
  });

  test("registers agents: clientId + authorizationUrl, 409 duplicate, 403 without Manage, 404 unknown ids", async () => {
    const body = {
      name: "rest-agent",
      version: "4.264.2",
      osDescription: "Darwin 23.4.0",
      maxParallelism: 1,
      provisioningState: "Provisioned",
      authorization: { publicKey: { exponent: "AQAB", modulus: Buffer.alloc(256, 7).toString("base64") } },
      systemCapabilities: { "Agent.Name": "rest-agent", ANKA_AGENT_IDENTIFIER: "rest-1" },
    };
    const created = await call(emulator, "POST", "distributedtask/pools/10/agents", {
      body,
      token: ANKA_PAT,
    });
    assert.equal(created.status, 200);
    assert.match(
      created.json.authorization.clientId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    assert.equal(created.json.authorization.authorizationUrl, `${emulator.url}/_apis/oauth2/token`);
    assert.equal(created.json.status, "offline");
    assert.equal(created.json.enabled, true);
    const agentId: number = created.json.id;

    const duplicate = await call(emulator, "POST", "distributedtask/pools/10/agents", {
      body: { ...body, name: "REST-agent" },
    });
    assert.equal(duplicate.status, 409);
    assert.deepEqual(duplicate.json, {
      $id: "1",
      innerException: null,
      message: "Pool Anka already contains an agent with name REST-agent.",
      typeName:
        "Microsoft.TeamFoundation.DistributedTask.WebApi.TaskAgentExistsException, Microsoft.TeamFoundation.DistributedTask.WebApi",
      typeKey: "TaskAgentExistsException",
      errorCode: 0,
      eventId: 3000,
    });

    const denied = await call(emulator, "POST", "distributedtask/pools/10/agents", {
      body: { ...body, name: "other" },
      token: READ_PAT,
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.json.typeKey, "AccessDeniedException");
    assert.equal(
      denied.json.message,
      "Access denied. Reader Person needs Manage permissions for pool Anka to perform the action. " +
        "For more information, contact the Azure DevOps Server administrator.",
    );
    const otherPool = await call(emulator, "POST", "distributedtask/pools/1/agents", {
      body,
      token: ANKA_PAT,
    });
    assert.equal(otherPool.status, 403);
    assert.match(
      otherPool.json.message,
      /^Access denied\. Anka Admin needs Manage permissions for pool Default /,
    );

    const byName = await call(emulator, "GET", "distributedtask/pools/10/agents?agentName=rest-agent", {
      token: READ_PAT,
    });
    assert.equal(byName.json.count, 1);
    assert.equal(byName.json.value[0].id, agentId);
    assert.equal("systemCapabilities" in byName.json.value[0], false);
    const withCaps = await call(
      emulator,
      "GET",
      "distributedtask/pools/10/agents?agentName=rest-agent&includeCapabilities=true",
    );
    assert.deepEqual(withCaps.json.value[0].systemCapabilities, body.systemCapabilities);
    assert.equal(
      "userCapabilities" in withCaps.json.value[0],
      false,
      "no user capabilities: no key (fact 3)",
    );
    const byDemand = await call(
      emulator,
      "GET",
      "distributedtask/pools/10/agents?demands=ANKA_AGENT_IDENTIFIER%20-equals%20REST-1",
    );
    assert.deepEqual(
      byDemand.json.value.map((agent: { id: number }) => agent.id),
      [agentId],
    );

    const one = await call(emulator, "GET", `distributedtask/pools/10/agents/${agentId}`);
    assert.equal(one.json.name, "rest-agent");
    const unknown = await call(emulator, "GET", "distributedtask/pools/10/agents/9999");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.typeKey, "TaskAgentNotFoundException");
    assert.equal((await call(emulator, "GET", `distributedtask/pools/1/agents/${agentId}`)).status, 404);

    const userCaps = await call(
      emulator,
      "PUT",
      `distributedtask/pools/10/agents/${agentId}/usercapabilities`,
      {
        body: { "anka-template": "sonoma" },
      },
    );
    assert.deepEqual(userCaps.json.userCapabilities, { "anka-template": "sonoma" });
    const disabled = await call(emulator, "PATCH", `distributedtask/pools/10/agents/${agentId}`, {
      body: { id: agentId, enabled: false },
    });
    assert.equal(disabled.json.enabled, false);
    const replaced = await call(emulator, "PUT", `distributedtask/pools/10/agents/${agentId}`, {
      body: { ...body, version: "4.265.0", systemCapabilities: { "Agent.Name": "rest-agent" } },
    });
    assert.equal(replaced.json.id, agentId);
    assert.equal(replaced.json.version, "4.265.0");
    assert.deepEqual(replaced.json.userCapabilities, { "anka-template": "sonoma" });
    assert.equal(emulator.agents("Anka").find((agent) => agent.id === agentId)?.enabled, false);

    assert.equal(
      (await call(emulator, "DELETE", `distributedtask/pools/10/agents/${agentId}`, { token: READ_PAT }))
        .status,
      403,
    );
    assert.equal((await call(emulator, "DELETE", `distributedtask/pools/10/agents/${agentId}`)).status, 204);
    assert.equal((await call(emulator, "DELETE", `distributedtask/pools/10/agents/${agentId}`)).status, 404);
    assert.equal(
      emulator.agents("Anka").some((agent) => agent.id === agentId),
      false,
    );
  });

  test("agent packages API in both forms, version as an object, sha256 hashValue, tarball served", async () => {
    const queryForm = await call(emulator, "GET", "distributedtask/packages/agent?platform=osx-arm64&$top=1");
    const queryFormNoDollar = await call(
      emulator,
      "GET",
      "distributedtask/packages/agent?platform=osx-arm64&top=1",
    );
    const pathForm = await call(emulator, "GET", "distributedtask/packages/agent/osx-arm64?$top=1", {
      token: READ_PAT,
    });
    assert.deepEqual(queryForm.json, pathForm.json);
    assert.deepEqual(queryFormNoDollar.json, pathForm.json);
    assert.equal(pathForm.json.count, 1);
    const [pkg] = pathForm.json.value;
    assert.equal(pkg.type, "agent");
    assert.equal(pkg.platform, "osx-arm64");
    assert.deepEqual(pkg.version, { major: 4, minor: 264, patch: 2 });
    assert.equal(pkg.filename, "vsts-agent-osx-arm64-4.264.2.tar.gz");
    assert.equal(
      pkg.downloadUrl,
      `${new URL(emulator.url).origin}/_downloads/vsts-agent-osx-arm64-4.264.2.tar.gz`,
    );
    assert.match(pkg.hashValue, /^[0-9a-f]{64}$/);

    const all = await call(emulator, "GET", "distributedtask/packages/agent");
    assert.deepEqual(
      all.json.value.map((entry: { platform: string }) => entry.platform),
      ["osx-arm64", "osx-x64", "linux-x64"],
    );
    const x64 = await call(emulator, "GET", "distributedtask/packages/agent/osx-x64/4.264.2");
    assert.equal(x64.json.value[0].filename, "vsts-agent-osx-x64-4.264.2.tar.gz");
    assert.equal((await call(emulator, "GET", "distributedtask/packages/agent/osx-x64/1.0.0")).json.count, 0);
    assert.equal(
      (await call(emulator, "GET", "distributedtask/packages/agent?platform=win-x64")).json.count,
      0,
    );

    const download = await fetch(pkg.downloadUrl);
    assert.equal(download.status, 200);
    const bytes = Buffer.from(await download.arrayBuffer());
    assert.equal(createHash("sha256").update(bytes).digest("hex"), pkg.hashValue);
    assert.equal((await fetch(`${new URL(emulator.url).origin}/_downloads/other.tar.gz`)).status, 404);

    const dir = await mkdtemp(path.join(os.tmpdir(), "azdo-pkg-test-"));
    try {
      await writeFile(path.join(dir, pkg.filename), bytes);
      await unpackAgentPackage(path.join(dir, pkg.filename), path.join(dir, "agent"));
      for (const file of ["config.sh", "run.sh", "env.sh", "bin/Agent.Listener"]) {
        const mode = (await stat(path.join(dir, "agent", file))).mode;
        assert.equal(mode & 0o111, 0o111, `${file} is executable`);
      }
      assert.equal((await readFile(path.join(dir, "agent", "bin", "version"), "utf8")).trim(), "4.264.2");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("sessions, long-polled messages kept until deleted, job request lock and finish, offline after polls stop", async () => {
    const created = await call(emulator, "POST", "distributedtask/pools/10/agents", {
      body: { name: "wire-agent", version: "4.264.2", systemCapabilities: { WIRE: "yes" } },
    });
    const agentId: number = created.json.id;
    const readSession = await call(emulator, "POST", "distributedtask/pools/10/sessions", {
      token: READ_PAT,
      body: { ownerName: "mac", agent: { id: agentId } },
    });
    assert.equal(readSession.status, 403);

    const session = await call(emulator, "POST", "distributedtask/pools/10/sessions", {
      body: {
        ownerName: "mac-1",
        agent: { id: agentId, name: "wire-agent" },
        systemCapabilities: { WIRE: "yes", FRESH: "1" },
      },
    });
    assert.equal(session.status, 200);
    assert.equal("encryptionKey" in session.json, false);
    const sessionId: string = session.json.sessionId;
    const agent = () => emulator.agents("Anka").find((entry) => entry.id === agentId);
    assert.equal(agent()?.status, "online");
    assert.deepEqual(agent()?.systemCapabilities, { WIRE: "yes", FRESH: "1" });

    const conflict = await call(emulator, "POST", "distributedtask/pools/10/sessions", {
      body: { ownerName: "mac-2", agent: { id: agentId } },
    });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.json.typeKey, "TaskAgentSessionConflictException");
    assert.equal(
      conflict.json.message,
      "The task agent wire-agent already has an active session for owner mac-1.",
    );

    const started = Date.now();
    const empty = await call(emulator, "GET", `distributedtask/pools/10/messages?sessionId=${sessionId}`);
    assert.equal(empty.status, 202);
    assert.equal(empty.text, "");
    assert.ok(Date.now() - started >= 250, "an empty poll is held open");

    const waiting = call(emulator, "GET", `distributedtask/pools/10/messages?sessionId=${sessionId}`);
    await sleep(50);
    const job = emulator.queueJob("Anka", ["wire -equals YES"], { name: "Build mac" });
    const delivered = await waiting;
    assert.equal(delivered.status, 200);
    assert.equal(delivered.json.messageType, "PipelineAgentJobRequest");
    const body = JSON.parse(delivered.json.body);
    assert.equal(body.requestId, job.requestId);
    assert.equal(body.jobDisplayName, "Build mac");
    assert.equal(emulator.job(job.requestId)?.reservedAgent?.id, agentId);
    assert.ok(emulator.job(job.requestId)?.receiveTime);

    // KeepAlive: a second poll without lastMessageId sees the same message until it is deleted.
    const again = await call(emulator, "GET", `distributedtask/pools/10/messages?sessionId=${sessionId}`);
    assert.equal(again.json.messageId, delivered.json.messageId);
    const afterLast = await call(
      emulator,
      "GET",
      `distributedtask/pools/10/messages?sessionId=${sessionId}&lastMessageId=${delivered.json.messageId}`,
    );
    assert.equal(afterLast.status, 202);
    assert.equal(
      (
        await call(
          emulator,
          "DELETE",
          `distributedtask/pools/10/messages/${delivered.json.messageId}?sessionId=${sessionId}`,
        )
      ).status,
      204,
    );
    assert.equal(
      (await call(emulator, "GET", `distributedtask/pools/10/messages?sessionId=${sessionId}`)).status,
      202,
    );

    const renewed = await call(
      emulator,
      "PATCH",
      `distributedtask/pools/10/jobrequests/${job.requestId}?lockToken=${body.lockToken}`,
      {
        body: { requestId: job.requestId },
      },
    );
    assert.equal(renewed.status, 200);
    assert.ok(Date.parse(renewed.json.lockedUntil) > Date.now());
    const unfinished = await call(
      emulator,
      "GET",
      "distributedtask/pools/10/jobrequests?completedRequestCount=0",
    );
    assert.deepEqual(
      unfinished.json.value.map((entry: { requestId: number }) => entry.requestId),
      [job.requestId],
    );
    assert.deepEqual(unfinished.json.value[0].demands, ["wire -equals YES"]);
    assert.equal(unfinished.json.value[0].reservedAgent.name, "wire-agent");

    const finished = await call(
      emulator,
      "PATCH",
      `distributedtask/pools/10/jobrequests/${job.requestId}?lockToken=${body.lockToken}`,
      {
        body: { requestId: job.requestId, finishTime: new Date().toISOString(), result: "succeeded" },
      },
    );
    assert.equal(finished.json.result, "succeeded");
    assert.equal(emulator.job(job.requestId)?.result, "succeeded");
    assert.deepEqual(agent()?.lastCompletedRequest, {
      requestId: job.requestId,
      name: "Build mac",
      result: "succeeded",
    });
    assert.equal(
      (await call(emulator, "GET", "distributedtask/pools/10/jobrequests?completedRequestCount=0")).json
        .count,
      0,
    );
    const one = await call(emulator, "GET", `distributedtask/pools/10/jobrequests/${job.requestId}`);
    assert.equal(one.json.result, "succeeded");
    assert.equal(
      (await call(emulator, "GET", "distributedtask/pools/10/jobrequests/999")).json.typeKey,
      "TaskAgentJobNotFoundException",
    );

    assert.equal(
      (await call(emulator, "DELETE", `distributedtask/pools/10/sessions/${sessionId}`)).status,
      204,
    );
    assert.equal(agent()?.status, "offline");
    const expired = await call(emulator, "GET", `distributedtask/pools/10/messages?sessionId=${sessionId}`);
    assert.equal(expired.status, 404);
    assert.equal(expired.json.typeKey, "TaskAgentSessionExpiredException");

    // A session nobody polls expires: the agent goes offline after offlineAfterMs (600 ms here).
    const silent = await call(emulator, "POST", "distributedtask/pools/10/sessions", {
      body: { ownerName: "mac-3", agent: { id: agentId } },
    });
    assert.equal(silent.status, 200);
    assert.equal(agent()?.status, "online");
    await sleep(800);
    assert.equal(agent()?.status, "offline");
    assert.equal((await call(emulator, "DELETE", `distributedtask/pools/10/agents/${agentId}`)).status, 204);
  });

  test("jobs wait while no matching agent is online; rejectUnsatisfiable fails them at queue time", async () => {
    const waiting = emulator.queueJob("Anka", ["nothing-has-this"]);
    assert.equal(waiting.assignTime, undefined);
    assert.equal(waiting.result, undefined);
    const strict = await startAzureDevOpsEmulator({
      tokens: [{ token: PAT, manage: true }],
      rejectUnsatisfiable: true,
    });
    try {
      const rejected = strict.queueJob("Anka", ["java", "Agent.Version -gtVersion 2.182.1"]);
      assert.equal(rejected.result, "failed");
      assert.equal(
        rejected.statusMessage,
        "No agent found in pool Anka which satisfies the specified demands: java, Agent.Version -gtVersion 2.182.1",
      );
    } finally {
      await strict.close();
    }
  });

  test("faults: status, reset and delay, each for the given number of requests", async () => {
    emulator.addFault({ kind: "status", status: 503, pathIncludes: "/pools", method: "GET" });
    assert.equal((await call(emulator, "GET", "distributedtask/pools")).status, 503);
    assert.equal((await call(emulator, "GET", "distributedtask/pools")).status, 200);
    emulator.addFault({ kind: "reset", pathIncludes: "connectionData" });
    await assert.rejects(call(emulator, "GET", "connectionData"));
    emulator.addFault({ kind: "delay", delayMs: 300, pathIncludes: "connectionData", times: 2 });
    const started = Date.now();
    assert.equal((await call(emulator, "GET", "connectionData")).status, 200);
    assert.ok(Date.now() - started >= 280);
    emulator.clearFaults();
    const quick = Date.now();
    await call(emulator, "GET", "connectionData");
    assert.ok(Date.now() - quick < 280);
  });

  test("admin routes queue and read jobs, list agents and requests; they are not recorded", async () => {
    const origin = new URL(emulator.url).origin;
    const before = emulator.requests.length;
    const queued = await fetch(`${origin}/_emulator/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pool: "Anka", demands: ["admin-demand"], durationMs: 50 }),
    });
    assert.equal(queued.status, 200);
    const job = (await queued.json()) as { requestId: number; demands: string[] };
    assert.deepEqual(job.demands, ["admin-demand"]);
    const read = (await (await fetch(`${origin}/_emulator/jobs/${job.requestId}`)).json()) as {
      requestId: number;
    };
    assert.equal(read.requestId, job.requestId);
    assert.equal((await fetch(`${origin}/_emulator/jobs/99999`)).status, 404);
    assert.deepEqual(await (await fetch(`${origin}/_emulator/agents?pool=Default`)).json(), []);
    assert.equal((await fetch(`${origin}/_emulator/agents?pool=Nope`)).status, 404);
    const log = (await (await fetch(`${origin}/_emulator/requests`)).json()) as unknown[];
    assert.equal(log.length, before);
    assert.equal(emulator.requests.length, before);

    await call(emulator, "GET", "connectionData");
    const last = emulator.requests.at(-1);
    assert.equal(last?.headers.authorization, "Basic");
    assert.equal(last?.path, "/contoso/_apis/connectionData");
    assert.deepEqual(last?.query, { "api-version": "7.1" });
  });
});

describe("stand-in agent package against the emulator", { timeout: 20_000 }, () => {
  let emulator: AzureDevOpsEmulator;
  let work: string;
  const children: ChildProcess[] = [];

  before(async () => {
    emulator = await startAzureDevOpsEmulator({
      tokens: [
        { token: PAT, manage: true },
        { token: READ_PAT, manage: false, owner: "Reader Person" },
      ],
      longPollMs: 300,
      offlineAfterMs: 800,
    });
    work = await mkdtemp(path.join(os.tmpdir(), "azdo-agent-test-"));
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await emulator.close();
    await rm(work, { recursive: true, force: true });
  });

  /** Downloads the package the org advertises and unpacks it, as the startup script does. */
  async function installAgent(name: string): Promise<string> {
    const answer = await call(emulator, "GET", "distributedtask/packages/agent?platform=osx-arm64&$top=1");
    const bytes = Buffer.from(await (await fetch(answer.json.value[0].downloadUrl)).arrayBuffer());
    const tarball = path.join(work, `${name}.tar.gz`);
    await writeFile(tarball, bytes);
    const dir = path.join(work, name);
    await unpackAgentPackage(tarball, dir);
    return dir;
  }

  const configArgs = (agentName: string, ...extra: string[]) => [
    "--unattended",
    "--url",
    emulator.url,
    "--auth",
    "pat",
    "--pool",
    "Anka",
    "--agent",
    agentName,
    "--acceptTeeEula",
    "--work",
    "_work",
    ...extra,
  ];

  test("config.sh registers, run.sh --once takes one matching job and exits, config.sh remove deletes", async () => {
    const dir = await installAgent("e2e");
    await writeFile(path.join(dir, ".env"), "FROM_DOTENV=dotenv-value\n");
    const configured = await runScript(
      path.join(dir, "config.sh"),
      configArgs("anka-build-42", "--replace"),
      {
        ...baseEnv(),
        VSTS_AGENT_INPUT_TOKEN: PAT,
        ANKA_AGENT_IDENTIFIER: "build-42",
        AZP_TOKEN_COPY: `prefix-${PAT}`,
        HIDDEN_SECRET: "must-not-show",
        VSO_AGENT_IGNORE: "HIDDEN_SECRET, OTHER",
      },
    );
    assert.equal(configured.code, 0, configured.stderr + configured.stdout);
    assert.match(configured.stdout, /Successfully added the agent/);
    assert.match(configured.stdout, /Settings Saved\./);
    assert.doesNotMatch(configured.stdout + configured.stderr, new RegExp(PAT));

    const agent = emulator.agents("Anka").find((entry) => entry.name === "anka-build-42");
    assert.ok(agent);
    assert.equal(agent?.status, "offline");
    assert.equal(agent?.version, "4.264.2");
    const caps = agent?.systemCapabilities ?? {};
    assert.equal(caps.ANKA_AGENT_IDENTIFIER, "build-42");
    assert.equal(caps.FROM_DOTENV, "dotenv-value");
    assert.equal(caps.VSO_AGENT_IGNORE, "HIDDEN_SECRET, OTHER");
    assert.equal(caps["Agent.Name"], "anka-build-42");
    assert.equal(caps["Agent.Version"], "4.264.2");
    assert.equal(caps.AZP_TOKEN_COPY, "prefix-***", "the PAT is masked at configure time");
    assert.equal("HIDDEN_SECRET" in caps, false);
    assert.equal(
      Object.keys(caps).some((name) => name.startsWith("VSTS_AGENT_INPUT")),
      false,
    );

    const credentials = (await readAgentJson(path.join(dir, ".credentials"))) as {
      scheme: string;
      data: { authorizationUrl: string };
    };
    assert.equal(credentials.scheme, "OAuth");
    assert.equal(credentials.data.authorizationUrl, `${emulator.url}/_apis/oauth2/token`);
    assert.equal((await stat(path.join(dir, ".credentials_rsaparams"))).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(await readAgentJson(path.join(dir, ".credentials_rsaparams"))), [
      "ContainerName",
      "UseCng",
      "d",
      "dp",
      "dq",
      "exponent",
      "inverseQ",
      "modulus",
      "p",
      "q",
    ]);
    assert.deepEqual(await readAgentJson(path.join(dir, ".agent")), {
      agentId: agent?.id,
      agentName: "anka-build-42",
      poolId: 10,
      poolName: "Anka",
      serverUrl: `${emulator.url}/`,
      workFolder: "_work",
    });
    assert.equal((await allFilesText(dir)).includes(PAT), false, "no file of the agent holds the PAT");

    const again = await runScript(path.join(dir, "config.sh"), configArgs("anka-build-42"), {
      ...baseEnv(),
      VSTS_AGENT_INPUT_TOKEN: PAT,
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot configure the agent because it is already configured/);

    // The listener gets no PAT: it authenticates with the key it registered.
    const listener = startScript(path.join(dir, "run.sh"), ["--once"], {
      ...baseEnv(),
      ANKA_AGENT_IDENTIFIER: "build-42",
    });
    children.push(listener.child);
    await waitFor("agent online", () => emulator.agents("Anka")[0]?.status === "online");
    assert.equal(
      emulator.agents("Anka")[0]?.systemCapabilities.FROM_DOTENV,
      "dotenv-value",
      "run loads .env too",
    );

    const unmatched = emulator.queueJob("Anka", ["ANKA_AGENT_IDENTIFIER -equals build-43"]);
    const matched = emulator.queueJob(
      "Anka",
      ["ANKA_AGENT_IDENTIFIER -equals BUILD-42", "Agent.Version -gtVersion 2.182.1"],
      {
        durationMs: 300,
        name: "macOS build",
      },
    );
    const result = await listener.done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Listening for Jobs/);
    assert.match(result.stdout, /Running job: macOS build/);
    assert.match(result.stdout, /Job macOS build completed with result: Succeeded/);

    const finished = emulator.job(matched.requestId);
    assert.equal(finished?.result, "succeeded");
    assert.deepEqual(finished?.reservedAgent, { id: agent?.id, name: "anka-build-42" });
    assert.ok(finished?.assignTime && finished.receiveTime && finished.finishTime);
    assert.ok(
      Date.parse(finished.finishTime) - Date.parse(finished.receiveTime) >= 250,
      "the job ran for its duration",
    );
    assert.equal(emulator.agents("Anka")[0]?.status, "offline");
    const stillQueued = emulator.job(unmatched.requestId);
    assert.equal(stillQueued?.assignTime, undefined);
    assert.equal(stillQueued?.result, undefined);

    const removed = await runScript(
      path.join(dir, "config.sh"),
      ["remove", "--unattended", "--auth", "pat", "--token", PAT],
      baseEnv(),
    );
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Succeeded: Removing agent from the server/);
    assert.deepEqual(emulator.agents("Anka"), []);
    for (const file of [".agent", ".credentials", ".credentials_rsaparams"]) {
      await assert.rejects(stat(path.join(dir, file)), `${file} removed`);
    }
    const removedAgain = await runScript(
      path.join(dir, "config.sh"),
      ["remove", "--unattended", "--auth", "pat", "--token", PAT],
      baseEnv(),
    );
    assert.equal(removedAgain.code, 0);
    assert.match(removedAgain.stdout, /config files are missing\. Skipping removing agent from the server\./);
  });

  test("config.sh failures: root, unknown pool, existing agent, read-only PAT; unknown flags only warn", async () => {
    const dir = await installAgent("failures");
    const env = { ...baseEnv(), VSTS_AGENT_INPUT_TOKEN: PAT };
    if (process.getuid?.() === 0) {
      const asRoot = await runScript(path.join(dir, "config.sh"), configArgs("x"), {
        ...env,
        AGENT_ALLOW_RUNASROOT: "",
      });
      assert.equal(asRoot.code, 1);
      assert.equal(asRoot.stdout.trim(), "Must not run with sudo");
    }
    const noPool = await runScript(path.join(dir, "config.sh"), [...configArgs("x"), "--pool", "Nope"], env);
    assert.equal(noPool.code, 1);
    assert.match(noPool.stderr, /^Agent pool not found: 'Nope'$/m);

    const readOnly = await runScript(path.join(dir, "config.sh"), configArgs("read-only-agent"), {
      ...baseEnv(),
      VSTS_AGENT_INPUT_TOKEN: READ_PAT,
    });
    assert.equal(readOnly.code, 1);
    assert.match(readOnly.stderr, /Access denied\. Reader Person needs Manage permissions for pool Anka/);
    assert.equal(
      emulator.agents("Anka").some((agent) => agent.name === "read-only-agent"),
      false,
    );

    const first = await runScript(
      path.join(dir, "config.sh"),
      [...configArgs("dup-agent"), "--bogusFlag"],
      env,
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Unrecognized command-line input arguments: 'bogusflag'/);
    const registered = emulator.agents("Anka").find((agent) => agent.name === "dup-agent");

    const other = await installAgent("failures-2");
    const clash = await runScript(path.join(other, "config.sh"), configArgs("dup-agent"), env);
    assert.equal(clash.code, 1);
    assert.match(clash.stdout, /Pool Anka already contains an agent with name dup-agent\./);
    assert.match(clash.stderr, /Pool 10 already contains an agent with name dup-agent\./);
    await assert.rejects(stat(path.join(other, ".agent")));

    // --replace keeps the id and swaps the key: the first folder's listener can no longer authenticate.
    const replaced = await runScript(
      path.join(other, "config.sh"),
      configArgs("dup-agent", "--replace"),
      env,
    );
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.match(replaced.stdout, /Successfully replaced the agent/);
    assert.deepEqual(
      emulator
        .agents("Anka")
        .filter((agent) => agent.name === "dup-agent")
        .map((agent) => agent.id),
      [registered?.id],
    );
    const stale = await runScript(path.join(dir, "run.sh"), ["--once"], baseEnv());
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /signature is not valid/);

    const notConfigured = await installAgent("never-configured");
    const runUnconfigured = await runScript(path.join(notConfigured, "run.sh"), [], baseEnv());
    // agent-registration.md §1.2: LoadSettings throws before any friendlier check, exit code 2.
    assert.equal(runUnconfigured.code, 2);
    assert.match(runUnconfigured.stderr, /An error occurred: Not configured/);

    const removed = await runScript(
      path.join(other, "config.sh"),
      ["remove", "--unattended", "--auth", "pat", "--token", PAT],
      baseEnv(),
    );
    assert.equal(removed.code, 0, removed.stderr);
  });

  test("SIGTERM to run.sh cancels the running job and deletes the session", async () => {
    const dir = await installAgent("sigterm");
    const configured = await runScript(path.join(dir, "config.sh"), configArgs("sigterm-agent"), {
      ...baseEnv(),
      VSTS_AGENT_INPUT_TOKEN: PAT,
      ROLE: "sigterm",
    });
    assert.equal(configured.code, 0, configured.stderr);
    const listener = startScript(path.join(dir, "run.sh"), ["--once"], { ...baseEnv(), ROLE: "sigterm" });
    children.push(listener.child);
    await waitFor("agent online", () => emulator.agents("Anka").some((agent) => agent.status === "online"));
    const job = emulator.queueJob("Anka", ["ROLE -equals sigterm"], { durationMs: 30_000 });
    await waitFor("job received", () => emulator.job(job.requestId)?.receiveTime !== undefined);
    listener.child.kill("SIGTERM");
    const result = await listener.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(emulator.job(job.requestId)?.result, "canceled");
    assert.equal(emulator.agents("Anka").find((agent) => agent.name === "sigterm-agent")?.status, "offline");
    const removed = await runScript(
      path.join(dir, "config.sh"),
      ["remove", "--unattended", "--auth", "pat", "--token", PAT],
      baseEnv(),
    );
    assert.equal(removed.code, 0, removed.stderr);
  });

  test("proxy flags: config.sh, run.sh and remove reach the organization through --proxyurl", async () => {
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const upstream = httpRequest(req.url ?? "", { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const dir = await installAgent("proxied");
      const configured = await runScript(
        path.join(dir, "config.sh"),
        configArgs(
          "proxied-agent",
          "--proxyurl",
          proxyUrl,
          "--proxyusername",
          "puser",
          "--proxypassword",
          "ppass",
        ),
        { ...baseEnv(), VSTS_AGENT_INPUT_TOKEN: PAT },
      );
      assert.equal(configured.code, 0, configured.stderr);
      assert.ok(
        seen.includes(
          `GET ${emulator.url}/_apis/connectionData?connectOptions=0&lastChangeId=0&lastChangeId64=0`,
        ),
      );
      assert.equal((await readFile(path.join(dir, ".proxy"), "utf8")).trim(), proxyUrl);
      const proxyCredentials = path.join(dir, ".proxycredentials");
      assert.equal((await stat(proxyCredentials)).mode & 0o777, 0o600);
      const proxied = emulator.requests.filter((entry) => entry.headers["proxy-authorization"] === "Basic");
      assert.ok(proxied.length >= 4, "requests carried Proxy-Authorization");

      const listener = startScript(path.join(dir, "run.sh"), [], baseEnv());
      children.push(listener.child);
      await waitFor("proxied agent online", () =>
        emulator.agents("Anka").some((agent) => agent.name === "proxied-agent" && agent.status === "online"),
      );
      assert.ok(seen.includes(`POST ${emulator.url}/_apis/distributedtask/pools/10/sessions`));
      listener.child.kill("SIGTERM");
      assert.equal((await listener.done).code, 0);
      const removed = await runScript(
        path.join(dir, "config.sh"),
        ["remove", "--unattended", "--auth", "pat", "--token", PAT],
        baseEnv(),
      );
      assert.equal(removed.code, 0, removed.stderr);
      assert.ok(
        seen.some((line) => line.startsWith("DELETE ")),
        "remove went through the proxy",
      );
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

/** The agent writes its JSON files behind a UTF-8 BOM (agent-registration.md §1.1). */
async function readAgentJson(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, "utf8");
  assert.ok(text.startsWith("\uFEFF"), `${file} starts with the BOM`);
  return JSON.parse(text.slice(1)) as Record<string, unknown>;
}
