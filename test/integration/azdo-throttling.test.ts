// Throttling both ways: the Azure DevOps emulator rate-limits (headers, delays, 429 + Retry-After),
// the clients honour Retry-After (seconds or HTTP date) before their own backoff and report the
// headers, and every flow (Start, Terminate, Cleanup, a pool pass) gets through with nothing lost.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { startAzureDevOpsEmulator, type AzureDevOpsEmulator } from "../../emulator/azdo/index.ts";
import { runTask, taskEnvironment, type TaskRun } from "../../emulator/task-host.ts";
import { AnkaClient } from "../../src/anka/index.ts";
import { AzureDevOpsClient } from "../../src/azdo/index.ts";
import { realClock, type Clock } from "../../src/clock.ts";
import { rateLimitedDelay, retryAfterMs, type RateLimitSnapshot } from "../../src/net/rate-limit.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { serveOneClassPool } from "../helpers/one-class-pool.ts";
import { EMULATOR_PATS } from "../helpers/secrets.ts";
import { PAT, POOL, startWorld, taskFolder, type World } from "../helpers/world.ts";

const basic = (token: string) => `Basic ${Buffer.from(`:${token}`).toString("base64")}`;
const adminUrl = (emulator: AzureDevOpsEmulator) => `${new URL(emulator.url).origin}/_emulator/throttle`;

/** The real clock, with every sleep written down. */
function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => realClock.now(),
    sleep: (ms, signal) => (sleeps.push(ms), realClock.sleep(ms, signal)),
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("Retry-After and X-RateLimit-* headers", () => {
  const pat = EMULATOR_PATS.manageAll;
  let emulator: AzureDevOpsEmulator;
  before(async () => (emulator = await startAzureDevOpsEmulator({ tokens: [{ token: pat, manage: true }] })));
  after(() => emulator.close());

  test("the emulator flags, then delays (still 200), then refuses with 429, TF400733 and Retry-After; set and cleared by its admin route", async () => {
    const config = { limit: 4, windowMs: 60_000, delayMs: 20, delayedBeforeBlock: 2 };
    const put = await fetch(adminUrl(emulator), { method: "PUT", body: JSON.stringify(config) });
    assert.equal(put.status, 204);
    const answers = [];
    for (let n = 0; n < 7; n++) {
      const response = await fetch(`${emulator.url}/_apis/distributedtask/pools`, {
        headers: { authorization: basic(pat) },
      });
      answers.push({
        status: response.status,
        remaining: response.headers.get("x-ratelimit-remaining"),
        delay: response.headers.get("x-ratelimit-delay"),
        retryAfter: response.headers.get("retry-after"),
        body: (await response.json()) as { message?: string },
      });
    }
    assert.deepEqual(
      answers.map((a) => [a.status, a.remaining, a.delay]),
      [
        [200, null, null],
        [200, null, null],
        [200, "1", null],
        [200, "0", null],
        [200, "0", "0.020"],
        [200, "0", "0.020"],
        [429, "0", null],
      ],
    );
    const blocked = answers[6]!;
    assert.match(
      blocked.body.message ?? "",
      /^TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core'/,
    );
    assert.ok(
      Number(blocked.retryAfter) >= 59 && Number(blocked.retryAfter) <= 60,
      `Retry-After ${blocked.retryAfter}`,
    );
    assert.deepEqual(await (await fetch(adminUrl(emulator))).json(), { flagged: 2, delayed: 2, blocked: 1 });
    assert.equal((await fetch(adminUrl(emulator), { method: "DELETE" })).status, 204);
    const free = await fetch(`${emulator.url}/_apis/distributedtask/pools`, {
      headers: { authorization: basic(pat) },
    });
    assert.deepEqual([free.status, free.headers.get("x-ratelimit-limit")], [200, null]);
  });

  test("the client waits Retry-After on 429 instead of its backoff, reports every header, and loses no call", async () => {
    emulator.setThrottle({ limit: 2, windowMs: 1500, delayMs: 10, delayedBeforeBlock: 1 });
    const clock = recordingClock();
    const seen: RateLimitSnapshot[] = [];
    const client = new AzureDevOpsClient({
      organizationUrl: emulator.url,
      pat,
      clock,
      onRateLimit: (s) => seen.push(s),
    });
    try {
      for (let n = 0; n < 6; n++) assert.equal((await client.listPools("Anka"))[0]?.id, 10);
      assert.ok(
        seen.some(
          (s) => s.status === 200 && s.remaining !== undefined && s.limit === 2 && s.resetEpochSeconds,
        ),
      );
      assert.ok(seen.some((s) => s.status === 200 && s.delaySeconds === 0.01));
      const blocked = seen.filter((s) => s.status === 429);
      assert.ok(blocked.length >= 1, "the emulator blocked at least once");
      assert.equal(clock.sleeps.length, blocked.length, "one wait per 429");
      assert.deepEqual(
        clock.sleeps,
        blocked.map((s) => s.retryAfterMs),
        "each wait is the server's Retry-After, not jitter",
      );
      assert.ok(clock.sleeps.every((ms) => ms >= 1000 && ms % 1000 === 0));
      assert.equal(client.throttling.blocked, blocked.length);
      assert.deepEqual(client.lastRateLimit, seen.at(-1));
    } finally {
      client.close();
      emulator.setThrottle(undefined);
    }
  });

  test("Retry-After as an HTTP date on a 503 is honoured too", async () => {
    const clock = new FakeClock(Date.now());
    emulator.addFault({
      kind: "status",
      status: 503,
      retryAfter: new Date(Date.now() + 5_000).toUTCString(),
    });
    const client = new AzureDevOpsClient({ organizationUrl: emulator.url, pat, clock });
    try {
      assert.equal((await client.listPools("Anka")).length, 1);
      assert.equal(clock.sleeps.length, 1);
      assert.ok(clock.sleeps[0]! > 3_000 && clock.sleeps[0]! <= 5_000, `slept ${clock.sleeps[0]} ms`);
    } finally {
      client.close();
    }
  });

  test("Retry-After forms: seconds, an HTTP date, a past date, junk", () => {
    const now = Date.UTC(2026, 11, 8, 3, 0, 0);
    assert.equal(retryAfterMs("30", now), 30_000);
    assert.equal(retryAfterMs("Tue, 08 Dec 2026 03:00:10 GMT", now), 10_000);
    assert.equal(retryAfterMs("Tue, 08 Dec 2026 02:00:00 GMT", now), 0);
    assert.equal(retryAfterMs("soon", now), undefined);
    assert.equal(retryAfterMs("-5", now), undefined);
  });

  test("the polling delay grows only while Remaining is low, a request was delayed or refused", () => {
    const now = 1_000_000;
    const poll = 1000;
    assert.equal(rateLimitedDelay(poll, undefined, now), poll);
    assert.equal(rateLimitedDelay(poll, { status: 200, limit: 200, remaining: 150 }, now), poll);
    assert.equal(rateLimitedDelay(poll, { status: 200, limit: 200, remaining: 20 }, now), 4 * poll);
    assert.equal(rateLimitedDelay(poll, { status: 200, delaySeconds: 0.5 }, now), 4 * poll);
    assert.equal(
      rateLimitedDelay(poll, { status: 200, limit: 200, remaining: 0, resetEpochSeconds: 1006 }, now),
      6 * poll,
    );
    assert.equal(rateLimitedDelay(poll, { status: 429, retryAfterMs: 60_000 }, now), 8 * poll);
    assert.equal(rateLimitedDelay(poll, { status: 200, retryAfterMs: 3_000 }, now), 4 * poll);
  });
});

describe("the controller client shares the Retry-After handling", () => {
  /** A controller stand-in that answers from a script: status, Retry-After, body. */
  async function controller(
    script: (method: string, path: string) => { status: number; retryAfter?: string; body: unknown },
  ) {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        seen.push(`${req.method} ${path}`);
        const answer = script(req.method ?? "", path);
        res.writeHead(answer.status, {
          "content-type": "application/json",
          ...(answer.retryAfter ? { "retry-after": answer.retryAfter } : {}),
        });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      seen,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  test("a 503 with Retry-After on a start: the token lookup first, then the start again after the server's wait", async () => {
    let starts = 0;
    const server = await controller((method) => {
      if (method === "GET") return { status: 200, body: { status: "OK", message: "", body: [] } };
      starts++;
      return starts === 1
        ? { status: 503, retryAfter: "3", body: { status: "FAIL", message: "busy" } }
        : {
            status: 200,
            body: { status: "OK", message: "", body: ["11111111-2222-3333-4444-555555555555"] },
          };
    });
    const clock = new FakeClock(Date.now());
    const anka = new AnkaClient({ url: server.url, clock });
    try {
      const id = await anka.startInstance({ templateId: "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c" });
      assert.equal(id, "11111111-2222-3333-4444-555555555555");
      assert.deepEqual(server.seen, ["POST /api/v1/vm", "GET /api/v1/vm", "POST /api/v1/vm"]);
      assert.deepEqual(clock.sleeps, [3000]);
    } finally {
      anka.close();
      await server.close();
    }
  });

  test("a 429 with Retry-After on a read is retried after that wait", async () => {
    let calls = 0;
    const server = await controller(() =>
      ++calls === 1
        ? { status: 429, retryAfter: "2", body: { status: "FAIL", message: "too many requests" } }
        : { status: 200, body: { status: "OK", message: "", body: [] } },
    );
    const clock = new FakeClock(Date.now());
    const anka = new AnkaClient({ url: server.url, clock });
    try {
      assert.deepEqual(await anka.listInstances(), []);
      assert.deepEqual(clock.sleeps, [2000]);
    } finally {
      anka.close();
      await server.close();
    }
  });
});

describe("every flow through a throttling Azure DevOps: nothing lost", () => {
  let world: World;
  // Tight enough that each flow is delayed and refused: 3 requests per 2 s, then 2 delayed, then 429.
  const throttle = {
    limit: 3,
    windowMs: 2000,
    delayMs: 25,
    delayedBeforeBlock: 2,
    userAgentIncludes: "anka-azure-pipelines",
  };
  before(async () => {
    world = await startWorld({ azdo: { offlineAfterMs: 10_000 } });
  });
  after(() => world.close());

  test("Start, a job, Terminate and Cleanup succeed, each logs one throttling line, and nothing is left", async () => {
    const start = await taskFolder("AnkaStartInstance");
    const terminate = await taskFolder("AnkaTerminateInstance");
    const cleanup = await taskFolder("AnkaCleanup");
    const env = (inputs: Record<string, string>) =>
      taskEnvironment({ inputs, endpoint: world.endpoint(), variables: world.variables("9100") });
    // A fresh window per step, flagged from the first request, so that every step is throttled.
    const throttled = async (run: () => Promise<TaskRun>) => {
      world.azdo.setThrottle({ ...throttle, limit: 1, delayedBeforeBlock: 1, windowMs: 1500, flagAt: 0 });
      const result = await run();
      assert.equal(result.result, "Succeeded", result.stdout);
      assert.equal(result.stdout.match(/Azure DevOps rate-limited this task: /g)?.length, 1, result.stdout);
      totals.push(world.azdo.throttleCounts());
      return result;
    };
    const totals: { flagged: number; delayed: number; blocked: number }[] = [];
    try {
      const started = await throttled(() =>
        runTask(
          start,
          env({ template: "sonoma-14", tag: "base", agentIdentifier: "throttled", agentTimeoutMinutes: "1" }),
        ),
      );
      const job = world.azdo.queueJob(POOL, ["ANKA_AGENT_IDENTIFIER -equals throttled"], { durationMs: 50 });
      await until("the job ran", () => world.azdo.job(job.requestId)?.result !== undefined);
      assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");
      await throttled(() =>
        runTask(
          terminate,
          env({
            agentIdentifier: "throttled",
            instanceId: started.outputs.AnkaInstanceId ?? "",
            removeAgent: "true",
          }),
        ),
      );
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
      // An agent record without a VM (a start whose rollback could not reach Azure DevOps) is Cleanup's work.
      const client = new AzureDevOpsClient({ organizationUrl: world.azdo.url, pat: PAT });
      await client.addAgent(
        { id: 10, name: POOL },
        { name: "anka-orphan", version: "4.264.2", publicKey: { exponent: "AQAB", modulus: "AAAA" } },
      );
      client.close();
      const cleaned = await throttled(() => runTask(cleanup, env({ olderThanMinutes: "1" })));
      assert.match(cleaned.resultMessage, /^Removed 1 leftover\(s\); skipped 0 .*; 0 could not be removed/);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
      assert.ok(
        totals.some((counts) => counts.blocked > 0),
        JSON.stringify(totals),
      );
      assert.ok(
        totals.every((counts) => counts.flagged + counts.delayed + counts.blocked > 0),
        JSON.stringify(totals),
      );
    } finally {
      world.azdo.setThrottle(undefined);
    }
  });

  test("a pool pass under throttling serves its job, slows down, exports the headers and leaks nothing", async () => {
    world.azdo.setThrottle(throttle);
    const began = Date.now();
    const ours = () =>
      world.azdo.requests.filter((r) => String(r.headers["user-agent"]).includes("anka-azure-pipelines"));
    const before = ours().length;
    const { handle, logs, stop } = await serveOneClassPool(world);
    try {
      const job = world.azdo.queueJob(POOL, ["anka-class -equals sonoma"], { durationMs: 100 });
      await until("the job ran", () => world.azdo.job(job.requestId)?.result !== undefined, 60_000);
      assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");
      await until(
        "the VM and its agent are gone",
        () =>
          world.leftovers().instances === 0 &&
          world.leftovers().agents.every((name) => name.startsWith("anka-placeholder-")),
        60_000,
      );
      const slowed = logs
        .filter((line) => line.includes("rate limiting this service"))
        .map((line) => (JSON.parse(line) as { delayMs: number }).delayMs);
      assert.ok(slowed.length > 0, "the loop slowed down");
      const metrics = await (await fetch(`${handle.httpUrl}/metrics`)).text();
      assert.match(metrics, /^anka_pool_azdo_rate_limit\{value="limit"\} 3$/m);
      assert.match(metrics, /^anka_pool_azdo_rate_limit\{value="throttled_answers"\} [1-9]\d*$/m);
      const counts = world.azdo.throttleCounts();
      // The figures of issue 11's closing note.
      console.log(
        `throttled pool pass: ${ours().length - before} Azure DevOps requests, ${counts.delayed} delayed, ${counts.blocked} refused with 429; ` +
          `${slowed.length} slowed passes, ${slowed.reduce((a, b) => a + b, 0)} ms of waiting where the normal interval gives ${slowed.length * 200} ms; ` +
          `job served and everything removed in ${Date.now() - began} ms; nothing lost`,
      );
    } finally {
      await stop();
      world.azdo.setThrottle(undefined);
    }
  });
});
