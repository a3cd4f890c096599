import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { lightScriptRunner, type LightScriptRunner } from "../../emulator/light-runner.ts";
import { loadDefaultSeed, type EmulatorSeed } from "../../emulator/controller/index.ts";
import {
  createJsonLogger,
  parsePoolConfig,
  poolServe,
  SecretSet,
  startPoolService,
  type PassReport,
  type PoolServiceHandle,
} from "../../src/pool/index.ts";
import type { PoolStatus } from "../../src/pool/status.ts";
import { HOOKS_PASSWORD } from "../helpers/secrets.ts";
import { PAT, POOL, startWorld, type World } from "../helpers/world.ts";

/**
 * The pool service over real HTTP against both emulators. The first test runs the real startup
 * script in the sandbox shell, where the stand-in agent registers and runs the job. The bursts use
 * the light runner (emulator/light-runner.ts: it reads the rendered startup script, registers the
 * agent and runs the stand-in agent's `run.sh --once` listener in-process, no shell, no download).
 */
/** A program run without blocking this process, where the service under test lives. */
function run(file: string, args: string[], env?: NodeJS.ProcessEnv) {
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(file, args, { encoding: "utf8", timeout: 60_000, env }, (error, stdout, stderr) =>
      resolve({ status: error ? Number(error.code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

const CLI = path.join(import.meta.dirname, "..", "..", "bin", "anka-azdo.mjs");
const SONOMA = "sonoma-14";
const SEQUOIA = "sequoia-15";
const POLL_SECONDS = 0.1;
const POLL_MS = POLL_SECONDS * 1000;

/** `nodes` nodes of `slots` slots, in every group, every template already on disk (no pulls). */
function seed(nodes: number, slots: number): EmulatorSeed {
  const seed = loadDefaultSeed();
  const model = seed.nodes[0];
  assert.ok(model, "the default seed has a node");
  seed.nodes = Array.from({ length: nodes }, (_, n) => ({
    ...model,
    node_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    node_name: `pool-node-${n}`,
    capacity: slots,
    groups: seed.groups.map((group) => group.id),
    templates: seed.templates.flatMap((t) => t.versions.map((v) => ({ uuid: t.id, tag: v.tag }))),
  }));
  return seed;
}

interface Service {
  handle: PoolServiceHandle;
  passes: { report?: PassReport; error?: Error }[];
  stop(): Promise<void>;
}

interface Harness {
  world: World;
  runner?: LightScriptRunner;
  logs: string[];
  /** `source`: the config file's name, which tells two deployments apart (the pool's lease). */
  serve(classesYaml: string, options?: { pollSeconds?: number; source?: string }): Promise<Service>;
  close(): Promise<void>;
}

async function harness(options: { light: boolean }): Promise<Harness> {
  const runner = options.light ? lightScriptRunner() : undefined;
  const world = await startWorld({
    controller: options.light
      ? { seed: seed(4, 10), scriptRunner: runner, timing: { schedulingMs: 30, bootMs: 80, ipDelayMs: 20 } }
      : {},
    // A busy CI machine can starve an agent's poll for seconds: do not call it offline too early.
    azdo: { rejectUnsatisfiable: true, offlineAfterMs: 10_000 },
  });
  const logs: string[] = [];
  const secrets = new SecretSet();
  const log = createJsonLogger({ level: "debug", secrets, write: (line) => logs.push(line) });
  const config = (classesYaml: string, pollSeconds = POLL_SECONDS, source = "pool.yml") =>
    parsePoolConfig(
      [
        `controller: { url: "${world.controller.url}" }`,
        `azureDevOps: { url: "${world.azdo.url}", token: "\${AZP_TOKEN}", pool: ${POOL} }`,
        `pollSeconds: ${pollSeconds}`,
        "agentTimeoutMinutes: 0.25",
        "startTimeoutMinutes: 1",
        "http: { port: 0 }",
        'hooks: { password: "${HOOKS_PASSWORD}" }',
        "classes:",
        classesYaml,
      ].join("\n"),
      { AZP_TOKEN: PAT, HOOKS_PASSWORD },
      source,
    );
  return {
    world,
    runner,
    logs,
    async serve(classesYaml, options = {}) {
      const stop = new AbortController();
      const passes: Service["passes"] = [];
      const handle = await startPoolService(config(classesYaml, options.pollSeconds, options.source), {
        signal: stop.signal,
        log,
        secrets,
        onPass: (outcome) => passes.push(outcome),
      });
      return {
        handle,
        passes,
        stop: async () => {
          stop.abort();
          await handle.done;
        },
      };
    },
    async close() {
      await world.close();
      await runner?.cleanup();
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const startRequests = (world: World) =>
  world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm").length;

/** Live instances per class (pool-service metadata), as the controller shows them. */
function liveByClass(world: World): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const instance of world.controller.instances()) {
    if (instance.instance_state === "Terminating" || instance.instance_state === "Terminated") continue;
    const className = String(instance.metadata?.anka_pool_class ?? "-");
    counts[className] = (counts[className] ?? 0) + 1;
  }
  return counts;
}

const agentNames = (world: World) =>
  world.azdo
    .agents(POOL)
    .map((agent) => agent.name)
    .sort();

function assertAllSucceeded(world: World, jobs: { requestId: number }[]): void {
  for (const { requestId } of jobs) {
    const job = world.azdo.job(requestId);
    assert.equal(job?.result, "succeeded", `job ${requestId}: ${job?.result} ${job?.statusMessage ?? ""}`);
  }
}

function assertNoSecretsIn(logs: string[]): void {
  const text = logs.join("\n");
  for (const secret of [PAT, Buffer.from(`:${PAT}`).toString("base64"), JSON.stringify(PAT).slice(1, -1)])
    assert.ok(!text.includes(secret), "a form of the PAT appears in the logs");
}

async function metric(handle: PoolServiceHandle, name: RegExp): Promise<number> {
  const text = await (await fetch(`${handle.httpUrl}/metrics`)).text();
  for (const row of text.split("\n")) {
    const [key, value] = row.split(" ");
    if (key && name.test(key)) return Number(value);
  }
  return Number.NaN;
}

describe("pool service with the real startup script in the sandbox and the stand-in agent", () => {
  let h: Harness;
  before(async () => (h = await harness({ light: false })));
  after(() => h.close());

  test("placeholders let the job queue; a VM registers a single-use agent that runs it; VM and agent go afterwards", async () => {
    const service = await h.serve(`  - { name: sonoma, template: ${SONOMA}, tag: base, max: 2 }`);
    try {
      await until("the placeholder is registered", () =>
        agentNames(h.world).includes("anka-placeholder-sonoma"),
      );
      const placeholder = h.world.azdo.agents(POOL).find((a) => a.name === "anka-placeholder-sonoma");
      assert.equal(placeholder?.status, "offline");
      assert.deepEqual(placeholder?.userCapabilities, {
        "anka-class": "sonoma",
        "anka-template": SONOMA,
        "anka-template-id": "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c",
        "anka-template-tag": "base",
      });
      // Accepted at queue time (the emulator rejects unsatisfiable demands) thanks to the placeholder.
      const job = h.world.azdo.queueJob(
        POOL,
        ["ANKA-TEMPLATE -equals Sonoma-14", "Agent.Version -gtVersion 3.0"],
        {
          durationMs: 300,
        },
      );
      assert.equal(job.result, undefined, job.statusMessage);
      await until("the job ran", () => h.world.azdo.job(job.requestId)?.result !== undefined, 30_000);
      const ran = h.world.azdo.job(job.requestId);
      assert.equal(ran?.result, "succeeded");
      assert.match(ran?.reservedAgent?.name ?? "", /^anka-sonoma-[0-9a-f]{8}$/);
      assert.equal(startRequests(h.world), 1);
      await until("the VM and its agent are gone", () => {
        const left = h.world.leftovers();
        return left.instances === 0 && left.agents.length === 1;
      });
      assert.deepEqual(agentNames(h.world), ["anka-placeholder-sonoma"]);
      assert.equal(
        await metric(service.handle, /^anka_pool_vm_terminations_total\{class="sonoma",reason="done"\}$/),
        1,
      );
    } finally {
      await service.stop();
    }
    assertNoSecretsIn(h.logs);
  });
});

describe("pool service under load (light runner)", () => {
  let h: Harness;
  before(async () => (h = await harness({ light: true })));
  after(() => h.close());

  const twoClasses = [
    `  - { name: sonoma, template: ${SONOMA}, tag: base, max: 10, idleMinutes: 0.02 }`,
    `  - { name: sequoia, template: ${SEQUOIA}, max: 10, idleMinutes: 0.02 }`,
  ].join("\n");

  /** Queues `count` jobs alternating between the classes, by class name and by template name. */
  function burst(count: number, durationMs: number) {
    return Array.from({ length: count }, (_, n) =>
      h.world.azdo.queueJob(
        POOL,
        [n % 2 ? "anka-class -equals SONOMA" : `anka-template -equals ${SEQUOIA}`],
        {
          durationMs,
          name: `burst ${n}`,
        },
      ),
    );
  }

  async function sampleUntilDone(jobs: { requestId: number }[], timeoutMs: number, onTick?: () => void) {
    const peak: Record<string, number> = {};
    await until(
      "every job finished",
      () => {
        for (const [className, count] of Object.entries(liveByClass(h.world)))
          peak[className] = Math.max(peak[className] ?? 0, count);
        onTick?.();
        return jobs.every((job) => h.world.azdo.job(job.requestId)?.result !== undefined);
      },
      timeoutMs,
    );
    return peak;
  }

  async function assertNothingLeaks() {
    await until("no VM and no VM agent is left", () => {
      const left = h.world.leftovers();
      return left.instances === 0 && left.agents.every((name) => name.startsWith("anka-placeholder-"));
    });
  }

  test("a burst of 50 jobs over two classes with max 10: all complete, never more than 10 VMs a class, one VM per job, nothing leaks", async () => {
    const service = await h.serve(twoClasses);
    try {
      await until("both placeholders are registered", () => agentNames(h.world).length === 2);
      const before = startRequests(h.world);
      const jobs = burst(50, 150);
      assert.ok(
        jobs.every((job) => job.result === undefined),
        "the placeholders make every job queue",
      );
      const peak = await sampleUntilDone(jobs, 30_000);
      assert.ok(
        (peak.sonoma ?? 0) <= 10 && (peak.sequoia ?? 0) <= 10,
        `peak VMs per class: ${JSON.stringify(peak)}`,
      );
      assert.ok(
        (peak.sonoma ?? 0) >= 5 && (peak.sequoia ?? 0) >= 5,
        `the burst ran in parallel: ${JSON.stringify(peak)}`,
      );
      assertAllSucceeded(h.world, jobs);
      assert.ok(startRequests(h.world) - before <= 50, `${startRequests(h.world) - before} VMs for 50 jobs`);
      await assertNothingLeaks();
      assert.ok(
        service.passes.every((pass) => pass.report?.ok),
        "every pass succeeded",
      );
      assert.ok(
        (await metric(service.handle, /^anka_pool_job_wait_seconds_count\{class="sonoma"\}$/)) +
          (await metric(service.handle, /^anka_pool_job_wait_seconds_count\{class="sequoia"\}$/)) >=
          40,
        "queue-to-agent times recorded, per class",
      );
      assert.ok(
        (await metric(service.handle, /^anka_pool_vm_start_to_online_seconds_count\{class="sonoma"\}$/)) >= 5,
        "start-to-online times recorded, per class",
      );
    } finally {
      await service.stop();
    }
    assertNoSecretsIn(h.logs);
  });

  test("fleet burst over four classes: each pass reads the controller once and Azure DevOps twice (all pages), one VM per job, waste 0", async () => {
    const classes = ["a", "b", "c", "d"];
    // The other tests' classes stay, so that their placeholders do.
    const service = await h.serve(
      [
        twoClasses,
        ...classes.map((name, n) => `  - { name: ${name}, template: ${n % 2 ? SEQUOIA : SONOMA}, max: 10 }`),
      ].join("\n"),
    );
    try {
      await until("the placeholders are registered", () => agentNames(h.world).length >= 6);
      await until("a pass after the templates are resolved", () => service.passes.length >= 3);
      const passesBefore = service.passes.length;
      const controllerBefore = h.world.controller.requests.length;
      const azdoBefore = h.world.azdo.requests.length;
      const startsBefore = startRequests(h.world);
      const jobs = Array.from({ length: 80 }, (_, n) =>
        h.world.azdo.queueJob(POOL, [`anka-class -equals ${classes[n % 4]}`], { durationMs: 100 }),
      );
      await sampleUntilDone(jobs, 60_000);
      const passes = service.passes.length - passesBefore;
      const controllerReads = h.world.controller.requests
        .slice(controllerBefore)
        .filter((r) => r.method === "GET");
      // The service's reads only: the VMs' agents talk to Azure DevOps too, with their own user agent.
      const azdoReads = h.world.azdo.requests
        .slice(azdoBefore)
        .filter((r) => r.method === "GET" && r.headers["user-agent"] === "anka-azure-pipelines");
      const listings = azdoReads.filter(
        (r) =>
          /\/pools\/10\/agents$/.test(r.path) ||
          (/\/jobrequests$/.test(r.path) && !r.query.continuationToken),
      );
      // One pass may straddle each end of the window.
      assert.ok(
        controllerReads.length <= passes + 1,
        `${controllerReads.length} controller reads in ${passes} passes: ${[...new Set(controllerReads.map((r) => r.path))].join()}`,
      );
      assert.ok(
        azdoReads.length === listings.length &&
          listings.length >= 2 * (passes - 1) &&
          listings.length <= 2 * (passes + 1),
        `${azdoReads.length} Azure DevOps reads (${listings.length} listings) in ${passes} passes`,
      );
      assertAllSucceeded(h.world, jobs);
      assert.equal(startRequests(h.world) - startsBefore, 80, "exactly one VM per job");
      await assertNothingLeaks();
      assert.ok(
        Number.isNaN(await metric(service.handle, /^anka_pool_wasted_vms_total/)),
        "no VM went without running a job",
      );
      const planCpu = await metric(service.handle, /^anka_pool_plan_cpu_seconds$/);
      assert.ok(planCpu >= 0 && planCpu < 0.05, `planning CPU of the last pass: ${planCpu} s`);
    } finally {
      await service.stop();
    }
  });

  test("service hooks: a job queued with free capacity gets its VM requested within a second although polls are 5 s apart; bad credentials get 401 and are counted; a burst of calls is coalesced", async () => {
    const service = await h.serve(
      `${twoClasses}\n  - { name: pushed, template: ${SONOMA}, tag: base, max: 4 }`,
      {
        pollSeconds: 5,
      },
    );
    const hooksUrl = `${service.handle.httpUrl}/hooks`;
    try {
      await until("the placeholder is registered", () =>
        agentNames(h.world).includes("anka-placeholder-pushed"),
      );
      const basic = (user: string, password: string) =>
        `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
      const post = (authorization?: string) =>
        fetch(hooksUrl, {
          method: "POST",
          headers: authorization ? { authorization } : {},
          body: "{}",
        }).then((answer) => answer.status);
      assert.equal(await post(), 401);
      assert.equal(await post(basic("anka-pool", "wrong-password")), 401);
      assert.equal(await post(basic("someone", HOOKS_PASSWORD)), 401);
      assert.equal((await fetch(hooksUrl)).status, 405);
      assert.equal(
        await metric(service.handle, /^anka_pool_hook_requests_total\{outcome="unauthorized"\}$/),
        3,
      );

      // Azure DevOps calls the service as jobs are queued, started and completed.
      h.world.azdo.subscribeServiceHook({ url: hooksUrl, username: "anka-pool", password: HOOKS_PASSWORD });
      const delays: number[] = [];
      for (let n = 0; n < 5; n++) {
        const before = startRequests(h.world);
        const job = h.world.azdo.queueJob(POOL, ["anka-class -equals pushed"], { durationMs: 50 });
        await until("its VM is requested", () => startRequests(h.world) > before, 4_000);
        const requested = h.world.controller.requests
          .filter((r) => r.method === "POST" && r.path === "/api/v1/vm")
          .at(-1);
        delays.push((requested?.time ?? Infinity) - Date.parse(job.queueTime));
        await until("the job ran", () => h.world.azdo.job(job.requestId)?.result === "succeeded", 15_000);
      }
      delays.sort((a, b) => a - b);
      assert.ok((delays[2] ?? Infinity) < 1000, `queued to VM requested, ms: ${delays.join()}`);
      assert.ok(
        h.world.azdo.hookDeliveries().every((delivery) => delivery.status === 200),
        JSON.stringify(h.world.azdo.hookDeliveries().filter((d) => d.status !== 200)),
      );
      assert.ok(
        (await metric(service.handle, /^anka_pool_hook_requests_total\{outcome="accepted"\}$/)) >= 15,
      );

      // Fifty calls at once: a pass or two, not fifty.
      await until("the service is asleep", () => service.passes.length > 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const passesBefore = service.passes.length;
      const calls = await Promise.all(
        Array.from({ length: 50 }, () => post(basic("anka-pool", HOOKS_PASSWORD))),
      );
      assert.ok(calls.every((status) => status === 200));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const extra = service.passes.length - passesBefore;
      assert.ok(extra >= 1 && extra <= 4, `${extra} passes for 50 hook calls`);
    } finally {
      h.world.azdo.unsubscribeServiceHooks();
      await service.stop();
    }
    assertNoSecretsIn(h.logs);
    assert.ok(!h.logs.join("\n").includes(HOOKS_PASSWORD), "the hooks password is not logged");
  });

  test("one service per pool: a second deployment finds the lease on a placeholder, refuses and says why; it takes over when the first stops", async () => {
    const first = await h.serve(twoClasses, { source: "first.yml" });
    let second: Service | undefined;
    const leases = () =>
      h.world.azdo
        .agents(POOL)
        .map((agent) => agent.userCapabilities["anka-pool-lease"])
        .filter((lease): lease is string => lease !== undefined);
    try {
      await until("the first service holds the lease", () => leases().some((l) => l.includes("first.yml")));
      second = await h.serve(twoClasses, { source: "second.yml" });
      const refusing = second;
      await until(
        "the second refuses two passes",
        () => refusing.passes.filter((p) => p.report?.refusedBy).length >= 2,
      );
      const before = startRequests(h.world);
      const jobs = burst(6, 100);
      await sampleUntilDone(jobs, 30_000);
      assertAllSucceeded(h.world, jobs);
      assert.equal(startRequests(h.world) - before, 6, "one VM per job: the second service started none");
      assert.ok(refusing.passes.slice(-3).every((p) => p.report?.refusedBy?.includes("first.yml")));
      assert.equal(await metric(refusing.handle, /^anka_pool_lease_held$/), 0);
      assert.equal(await metric(first.handle, /^anka_pool_lease_held$/), 1);
      const said = h.logs.filter((line) => /Another pool service .*first\.yml.* holds pool/.test(line));
      assert.equal(said.length, 1, "said once, as an error");
      assert.match(said[0] ?? "", /"level":"error"/);
      assert.ok(!leases().some((l) => l.includes("second.yml")), "the second never wrote a lease");

      await first.stop();
      await until(
        "the second takes over once the lease lapses",
        () => leases().some((l) => l.includes("second.yml")),
        20_000,
      );
      const after = burst(2, 100);
      await sampleUntilDone(after, 30_000);
      assertAllSucceeded(h.world, after);
      assert.equal(await metric(refusing.handle, /^anka_pool_lease_held$/), 1);
      await assertNothingLeaks();
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  test("what operators see: GET /status as JSON, `anka-azdo pool status` as a table, and the status page rendered with data in headless Chromium", async () => {
    const service = await h.serve(twoClasses);
    const profile = mkdtempSync(path.join(os.tmpdir(), "pool-chromium-"));
    try {
      await until("both placeholders are registered", () => agentNames(h.world).length >= 2);
      const jobs = burst(12, 1500);
      await until(
        "VMs are busy",
        () => h.world.azdo.agents(POOL).filter((a) => a.assignedRequest).length >= 4,
      );
      await until(
        "a pass saw them",
        () => (service.passes.at(-1)?.report?.classes.sonoma?.phases.busy ?? 0) > 0,
      );
      const status = (await (await fetch(`${service.handle.httpUrl}/status`)).json()) as PoolStatus;
      assert.equal(status.pool, POOL);
      assert.deepEqual(
        status.classes.map((c) => c.name),
        ["sonoma", "sequoia"],
      );
      const busy = status.classes.reduce((sum, c) => sum + c.vms.busy, 0);
      assert.ok(busy >= 1, JSON.stringify(status.classes));
      assert.ok(
        status.events.some((e) => /Started instance/.test(e.msg)),
        "recent events",
      );
      assert.ok(status.lastPass && status.lastPass.planCpuMs >= 0);

      const cliEnv = { PATH: process.env.PATH, HOME: profile };
      const cli = await run(
        process.execPath,
        [CLI, "pool", "status", "--url", service.handle.httpUrl ?? ""],
        cliEnv,
      );
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /Pool "Anka": ok/);
      assert.match(cli.stdout, /class\s+queued\s+starting\s+idle\s+busy\s+finishing/);
      assert.match(cli.stdout, /^sonoma\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+$/m);
      const down = await run(
        process.execPath,
        [CLI, "pool", "status", "--url", "http://127.0.0.1:9"],
        cliEnv,
      );
      assert.notEqual(down.status, 0);
      assert.match(down.stderr, /cannot read the pool service's status at http:\/\/127\.0\.0\.1:9\/status/);

      // The page in a real browser: the DOM after its script ran, then a screenshot.
      const chromium = (...args: string[]) =>
        run("chromium", [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          `--user-data-dir=${profile}`,
          "--virtual-time-budget=3000",
          "--window-size=1000,700",
          ...args,
          `${service.handle.httpUrl}/`,
        ]);
      const dom = await chromium("--dump-dom");
      assert.equal(dom.status, 0, dom.stderr);
      assert.match(dom.stdout, /data-loaded="yes"/, "the page's script read /status");
      assert.match(dom.stdout, /<tr data-class="sonoma"><td>sonoma<\/td><td>\d+<\/td>/);
      assert.match(dom.stdout, /<tr data-class="sequoia">/);
      assert.match(dom.stdout, /Started instance/);
      const shot = path.join(profile, "status.png");
      const taken = await chromium(`--screenshot=${shot}`);
      assert.equal(taken.status, 0, taken.stderr);
      const png = readFileSync(shot);
      assert.equal(png.subarray(1, 4).toString(), "PNG");
      assert.ok(png.length > 10_000, `a screenshot with content: ${png.length} bytes`);
      if (process.env.POOL_STATUS_SCREENSHOT) writeFileSync(process.env.POOL_STATUS_SCREENSHOT, png);
      await sampleUntilDone(jobs, 30_000);
    } finally {
      await service.stop();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  test("a restart in the middle of a burst starts no duplicate VM and leaks nothing", async () => {
    let service = await h.serve(twoClasses);
    const before = startRequests(h.world);
    const jobs = burst(30, 400);
    let restarting: Promise<void> | undefined;
    const peak = await sampleUntilDone(jobs, 30_000, () => {
      const finished = jobs.filter((job) => h.world.azdo.job(job.requestId)?.result !== undefined).length;
      if (!restarting && finished >= 8) {
        // Stop (the start requests in flight finish), then a fresh service with no memory takes over.
        restarting = service.stop().then(async () => {
          service = await h.serve(twoClasses);
        });
      }
    });
    await restarting;
    try {
      assert.ok(restarting, "the service was restarted mid-burst");
      assert.ok(
        (peak.sonoma ?? 0) <= 10 && (peak.sequoia ?? 0) <= 10,
        `peak VMs per class: ${JSON.stringify(peak)}`,
      );
      assertAllSucceeded(h.world, jobs);
      assert.ok(startRequests(h.world) - before <= 30, `${startRequests(h.world) - before} VMs for 30 jobs`);
      await assertNothingLeaks();
    } finally {
      await service.stop();
    }
  });

  test("a controller outage: passes fail and back off, nothing is started or removed, then it recovers", async () => {
    const service = await h.serve(twoClasses);
    try {
      await until("a first pass", () => service.passes.some((pass) => pass.report?.ok));
      h.world.controller.addFault({ kind: "status", status: 503, path: "/api/v1/vm", always: true });
      const callsBefore = h.world.controller.requests.filter((r) => r.path === "/api/v1/vm").length;
      const outageStart = Date.now();
      const jobs = burst(6, 100);
      await until("two passes failed", () => service.passes.filter((pass) => pass.error).length >= 2, 30_000);
      const health = (await (await fetch(`${service.handle.httpUrl}/healthz`)).json()) as {
        consecutiveFailures: number;
        lastError?: string;
      };
      assert.ok(health.consecutiveFailures >= 2, JSON.stringify(health));
      assert.match(health.lastError ?? "", /503/);
      assert.ok((await metric(service.handle, /^anka_pool_consecutive_failures$/)) >= 2, "failures metric");
      assert.equal(h.world.controller.liveInstances(), 0, "no VM started during the outage");
      // Each pass tries the controller a few times (client retries), then the loop waits longer and longer.
      const outageMs = Date.now() - outageStart;
      const calls = h.world.controller.requests.filter((r) => r.path === "/api/v1/vm").length - callsBefore;
      assert.ok(calls < outageMs / POLL_MS, `${calls} controller requests in ${outageMs} ms of outage`);
      h.world.controller.clearFaults();
      await sampleUntilDone(jobs, 30_000);
      assertAllSucceeded(h.world, jobs);
      assert.equal((await fetch(`${service.handle.httpUrl}/healthz`)).status, 200);
      await assertNothingLeaks();
    } finally {
      h.world.controller.clearFaults();
      await service.stop();
    }
  });

  test("standby keeps warm VMs; a job on a warm VM starts within one poll interval; idle VMs are recycled; a removed class goes", async () => {
    const service = await h.serve(
      `  - { name: warm, template: ${SONOMA}, tag: base, max: 4, standby: 2, idleMinutes: 0.04 }`,
    );
    const idleWarm = () =>
      h.world.azdo
        .agents(POOL)
        .filter((a) => a.name.startsWith("anka-warm-") && a.status === "online" && !a.assignedRequest)
        .map((a) => a.name);
    try {
      await until("two warm VMs are online", () => idleWarm().length === 2);
      const firstWarm = idleWarm();
      const job = h.world.azdo.queueJob(POOL, ["anka-class -equals warm"], { durationMs: 100 });
      await until("the job is taken", () => h.world.azdo.job(job.requestId)?.assignTime !== undefined);
      const taken = h.world.azdo.job(job.requestId);
      const waitMs = Date.parse(taken?.assignTime ?? "") - Date.parse(taken?.queueTime ?? "");
      assert.ok(waitMs <= POLL_MS, `the job waited ${waitMs} ms for a warm VM`);
      assert.ok(firstWarm.includes(taken?.reservedAgent?.name ?? ""), "it ran on a warm VM");
      await until("the job ran", () => h.world.azdo.job(job.requestId)?.result === "succeeded");
      await until(
        "standby is two again, all of them newer than the first warm VMs (recycled after idleMinutes)",
        () => {
          const now = idleWarm();
          return now.length === 2 && now.every((name) => !firstWarm.includes(name));
        },
      );
      assert.ok((liveByClass(h.world).warm ?? 0) <= 4, "at most max");
      const recycled = await metric(
        service.handle,
        /^anka_pool_vm_terminations_total\{class="warm",reason="idle"\}$/,
      );
      assert.ok(recycled >= 1, `idle terminations counted: ${recycled}`);
    } finally {
      await service.stop();
    }
    // Stopping leaves the warm VMs; a service whose config drops the class removes them and its placeholder.
    assert.ok(
      (liveByClass(h.world).warm ?? 0) > 0,
      `warm VMs after stop: ${JSON.stringify(liveByClass(h.world))}`,
    );
    assert.ok(agentNames(h.world).includes("anka-placeholder-warm"), `agents: ${agentNames(h.world).join()}`);
    const next = await h.serve(`  - { name: other, template: ${SONOMA}, max: 1 }`);
    try {
      await until("the warm class is gone", () => {
        const left = h.world.leftovers();
        return (
          left.instances === 0 &&
          !left.agents.some((name) => name.includes("warm")) &&
          left.agents.includes("anka-placeholder-other")
        );
      });
      assert.ok(
        agentNames(h.world).includes("anka-placeholder-other"),
        `agents: ${agentNames(h.world).join()}`,
      );
      assert.ok(
        h.logs.some((line) => /Removed placeholder agent anka-placeholder-warm/.test(line)),
        "the removal is logged",
      );
    } finally {
      await next.stop();
    }
  });

  test("a job no class serves is reported once and never served; a job pinned to a Start task's VM is left alone", async () => {
    // A user's own offline agent accepts these demands, so Azure DevOps queues the jobs.
    const manual = await fetch(`${h.world.azdo.url}/_apis/distributedtask/pools/10/agents?api-version=7.1`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`:${PAT}`).toString("base64")}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        name: "manual-agent",
        version: "4.264.2",
        userCapabilities: { "anka-class": "nope", ANKA_AGENT_IDENTIFIER: "77" },
      }),
    });
    assert.equal(manual.status, 200);
    const service = await h.serve(twoClasses);
    try {
      const before = startRequests(h.world);
      const nope = h.world.azdo.queueJob(POOL, ["anka-class -equals nope"]);
      const pinned = h.world.azdo.queueJob(POOL, ["ANKA_AGENT_IDENTIFIER -equals 77"]);
      // With no registered agent that could serve it, Azure DevOps fails a job at once.
      const rejected = h.world.azdo.queueJob(POOL, ["anka-class -equals nothing-at-all"]);
      assert.equal(rejected.result, "failed");
      assert.match(
        rejected.statusMessage ?? "",
        /No agent found in pool Anka which satisfies the specified demands/,
      );
      const passesBefore = service.passes.length;
      await until("ten more passes", () => service.passes.length >= passesBefore + 10);
      const reports = h.logs.filter((line) => line.includes(`"request":${nope.requestId}`));
      assert.equal(reports.length, 1, "reported once");
      assert.match(reports[0] ?? "", /"level":"warn".*no class advertises anka-class -equals nope/);
      assert.ok(
        !h.logs.some((line) => line.includes(`"request":${pinned.requestId}`)),
        "the pinned job is not reported",
      );
      assert.equal(startRequests(h.world), before, "no VM for either");
      assert.equal(await metric(service.handle, /^anka_pool_unmatched_jobs$/), 1);
      assert.equal(await metric(service.handle, /^anka_pool_unmatched_jobs_total$/), 1);
      assert.equal(h.world.azdo.job(nope.requestId)?.result, undefined);
    } finally {
      await service.stop();
    }
  });

  test("--once: a pass registers placeholders, starts VMs for queued jobs and removes spent ones, exit 0; an unreachable controller is exit 1", async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "pool-once-"));
    const write = (name: string, url: string) => {
      const file = path.join(folder, name);
      writeFileSync(
        file,
        [
          `controller: { url: "${url}" }`,
          `azureDevOps: { url: "${h.world.azdo.url}", token: "\${AZP_TOKEN}", pool: ${POOL} }`,
          "classes:",
          `  - { name: once, template: ${SONOMA}, max: 3 }`,
        ].join("\n"),
      );
      return file;
    };
    const env = { AZP_TOKEN: PAT };
    const lines: string[] = [];
    const once = (file: string) =>
      poolServe({ configFile: file, once: true, env, write: (l) => lines.push(l) });
    try {
      const early = h.world.azdo.queueJob(POOL, ["anka-class -equals once"], { durationMs: 50 });
      assert.equal(early.result, "failed", "no placeholder yet: Azure DevOps rejects the job");
      const ok = write("ok.yml", h.world.controller.url);
      assert.equal(await once(ok), 0, lines.join("\n"));
      assert.ok(
        agentNames(h.world).includes("anka-placeholder-once"),
        `agents: ${agentNames(h.world).join()}`,
      );
      const job = h.world.azdo.queueJob(POOL, ["anka-class -equals once"], { durationMs: 50 });
      assert.equal(job.result, undefined);
      assert.equal(await once(ok), 0);
      assert.equal(liveByClass(h.world).once, 1, "one VM for the queued job");
      await until("the job ran", () => h.world.azdo.job(job.requestId)?.result === "succeeded");
      await until("the spent agent is offline", () =>
        h.world.azdo.agents(POOL).some((a) => a.name.startsWith("anka-once-") && a.status === "offline"),
      );
      assert.equal(await once(ok), 0);
      assert.equal(liveByClass(h.world).once, undefined, "the spent VM is terminated");
      assert.ok(
        !agentNames(h.world).some((name) => name.startsWith("anka-once-")),
        agentNames(h.world).join(),
      );
      assert.equal(await once(write("down.yml", "http://127.0.0.1:9")), 1);
      assert.equal(await once(path.join(folder, "missing.yml")), 2);
      assert.ok(
        lines.some((line) => /missing\.yml/.test(line) && /"level":"error"/.test(line)),
        "the config error is logged",
      );
      assertNoSecretsIn(lines);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
