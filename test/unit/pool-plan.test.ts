import assert from "node:assert/strict";
import { test } from "node:test";
import type { Agent, JobRequest } from "../../src/azdo/index.ts";
import { judgeJob, type ClassCapabilities } from "../../src/pool/classes.ts";
import type { PoolClassConfig } from "../../src/pool/config.ts";
import { planPass, type ObservedVm, type PlanClass, type PlanInput } from "../../src/pool/plan.ts";

const NOW = Date.parse("2026-01-01T12:00:00Z");
const MIN = 60_000;

function cls(name: string, extra: Partial<PoolClassConfig> = {}, plan: Partial<PlanClass> = {}): PlanClass {
  const config: PoolClassConfig = {
    name,
    template: `${name}-template`,
    max: 4,
    standby: 0,
    idleMinutes: 10,
    capabilities: ["anka-class", "anka-template", "anka-template-id", "anka-template-tag"],
    ...extra,
  };
  return {
    config,
    capabilities: {
      "anka-class": name,
      "anka-template": config.template,
      "anka-template-id": `${name}-uuid`,
    },
    ready: true,
    blocked: false,
    standby: config.standby as number,
    ...plan,
  };
}

let nextId = 1;
function job(demands: string[], extra: Partial<JobRequest> = {}): JobRequest {
  const requestId = nextId++;
  return { requestId, demands, queueTime: new Date(NOW - 1000 + requestId).toISOString(), ...extra };
}

function vm(className: string, state: string, extra: Partial<ObservedVm> = {}): ObservedVm {
  const id = nextId++;
  return {
    instanceId: `i-${id}`,
    className,
    state,
    agentName: `anka-${className}-${id}`,
    createdAtMs: NOW - MIN,
    updatedAtMs: NOW - 30_000,
    ...extra,
  };
}

function agent(name: string, extra: Partial<Agent> = {}): Agent {
  return {
    id: nextId++,
    name,
    status: "online",
    systemCapabilities: { "anka-class": "x" },
    userCapabilities: {},
    createdOn: new Date(NOW - 20_000).toISOString(),
    statusChangedOn: new Date(NOW - 20_000).toISOString(),
    ...extra,
  };
}

function input(extra: Partial<PlanInput>): PlanInput {
  return {
    now: NOW,
    classes: [],
    vms: [],
    agents: [],
    jobs: [],
    pending: new Map(),
    maxVms: 100,
    startTimeoutMs: 30 * MIN,
    agentTimeoutMs: 10 * MIN,
    ...extra,
  };
}

const startsOf = (plan: ReturnType<typeof planPass>) =>
  Object.fromEntries(plan.starts.map((start) => [start.className, start.count]));

test("a job picks the first class whose capabilities meet its anka demands, case-insensitively", () => {
  const classes: ClassCapabilities[] = [
    {
      name: "ios",
      capabilities: { "anka-class": "ios", "anka-template": "sonoma-14", "anka-template-tag": "xcode-15" },
    },
    {
      name: "mac",
      capabilities: { "anka-class": "mac", "anka-template": "Sonoma-14", "anka-template-id": "6B13" },
    },
  ];
  assert.deepEqual(judgeJob(["ANKA-CLASS -equals MAC"], classes), { kind: "class", className: "mac" });
  assert.deepEqual(judgeJob(["anka-template -equals SONOMA-14"], classes), {
    kind: "class",
    className: "ios",
  });
  assert.deepEqual(
    judgeJob(["anka-template-id -equals 6b13", "xcode", "Agent.Version -gtVersion 3.2"], classes),
    {
      kind: "class",
      className: "mac",
    },
  );
  assert.deepEqual(judgeJob(["anka-template-tag"], classes), { kind: "class", className: "ios" });
  assert.deepEqual(
    judgeJob([], classes),
    { kind: "class", className: "ios" },
    "no anka demand: the first class",
  );
  assert.deepEqual(judgeJob(["anka-class -equals mac", "anka-template-tag -equals xcode-15"], classes), {
    kind: "unmatched",
    reason: "no class advertises anka-class -equals mac, anka-template-tag -equals xcode-15",
  });
  assert.equal(judgeJob(["ANKA_AGENT_IDENTIFIER -equals 42"], classes).kind, "pinned");
  assert.equal(judgeJob(["Agent.Name -equals anka-42"], classes).kind, "pinned");
});

test("starts: queued minus supply (starting, registering, idle, in flight), capped by max", () => {
  const ios = cls("ios", { max: 4 });
  const starting = vm("ios", "Scheduling");
  const idle = vm("ios", "Started");
  const busy = vm("ios", "Started");
  const plan = planPass(
    input({
      classes: [ios],
      vms: [starting, idle, busy],
      agents: [agent(idle.agentName), agent(busy.agentName, { assignedRequest: { requestId: 999 } })],
      jobs: Array.from({ length: 5 }, () => job(["anka-class -equals ios"])),
    }),
  );
  // 5 queued, supply 2 (starting + idle), live 3 of max 4: one more.
  assert.deepEqual(startsOf(plan), { ios: 1 });
  assert.deepEqual(plan.counts.get("ios")?.phases, {
    starting: 1,
    registering: 0,
    idle: 1,
    busy: 1,
    done: 0,
    failed: 0,
  });

  // The next pass, the start in flight: nothing more, even though jobs still wait.
  const again = planPass(
    input({
      classes: [ios],
      vms: [starting, idle, busy],
      agents: [agent(idle.agentName), agent(busy.agentName, { assignedRequest: { requestId: 999 } })],
      jobs: Array.from({ length: 5 }, () => job(["anka-class -equals ios"])),
      pending: new Map([["ios", 1]]),
    }),
  );
  assert.deepEqual(startsOf(again), {});
});

test("never two VMs for one request: passes repeated over the same queue start exactly one VM per job", () => {
  const ios = cls("ios", { max: 10 });
  const jobs = [
    job(["anka-class -equals ios"]),
    job(["anka-class -equals ios"]),
    job(["anka-class -equals ios"]),
  ];
  const first = planPass(input({ classes: [ios], jobs }));
  assert.deepEqual(startsOf(first), { ios: 3 });
  // Those three VMs now exist, in every stage before taking a job: none of the passes starts more.
  const registering = vm("ios", "Started");
  const idleVm = vm("ios", "Started");
  for (const vms of [
    [vm("ios", "Scheduling"), vm("ios", "Pulling"), vm("ios", "Scheduling")],
    [registering, vm("ios", "Scheduling"), idleVm],
  ]) {
    const agents = [agent(registering.agentName, { status: "offline" }), agent(idleVm.agentName)];
    assert.deepEqual(startsOf(planPass(input({ classes: [ios], jobs, vms, agents }))), {});
  }
});

test("maxVms caps all classes together; the class whose job waits longest goes first", () => {
  const a = cls("a", { max: 5 });
  const b = cls("b", { max: 5 });
  const jobs = [
    job(["anka-class -equals b"], { queueTime: new Date(NOW - 50_000).toISOString() }),
    ...Array.from({ length: 4 }, () => job(["anka-class -equals a"])),
    job(["anka-class -equals b"]),
  ];
  const plan = planPass(input({ classes: [a, b], jobs, maxVms: 3 }));
  assert.deepEqual(startsOf(plan), { a: 1, b: 2 }, "round robin from b (oldest job), then a");
  assert.equal(plan.liveTotal, 3);
  // A class removed from the config still holds its busy VMs against maxVms.
  const old = vm("gone", "Started");
  const capped = planPass(
    input({
      classes: [a],
      jobs,
      maxVms: 3,
      vms: [old],
      agents: [agent(old.agentName, { assignedRequest: { requestId: 1 } })],
    }),
  );
  assert.deepEqual(startsOf(capped), { a: 2 });
});

test("standby: idle VMs kept warm, queued jobs first; blocked and unready classes start nothing", () => {
  const warm = cls("warm", { max: 3, standby: 2 });
  assert.deepEqual(startsOf(planPass(input({ classes: [warm] }))), { warm: 2 });
  const one = vm("warm", "Started");
  assert.deepEqual(
    startsOf(
      planPass(
        input({
          classes: [warm],
          vms: [one],
          agents: [agent(one.agentName)],
          jobs: [job(["anka-class -equals warm"])],
        }),
      ),
    ),
    { warm: 2 },
    "1 queued + 2 standby - 1 idle",
  );
  assert.deepEqual(
    startsOf(planPass(input({ classes: [cls("warm", { standby: 2 }, { blocked: true })] }))),
    {},
  );
  assert.deepEqual(
    startsOf(planPass(input({ classes: [cls("warm", { standby: 2 }, { ready: false })] }))),
    {},
  );
});

test("VM verdicts: done, busy, idle past idleMinutes, timeouts, failed states, removed class", () => {
  const ios = cls("ios", { idleMinutes: 10 });
  const done = vm("ios", "Started");
  const busyInError = vm("ios", "Error");
  const oldIdle = vm("ios", "Started");
  const youngIdle = vm("ios", "Started");
  const stuck = vm("ios", "Scheduling", { createdAtMs: NOW - 31 * MIN });
  const pulling = vm("ios", "Pulling", { createdAtMs: NOW - 29 * MIN });
  const neverRegistered = vm("ios", "Started", { updatedAtMs: NOW - 11 * MIN });
  const registeringSoon = vm("ios", "Started", { updatedAtMs: NOW - 9 * MIN });
  const wentOffline = vm("ios", "Started");
  const failed = vm("ios", "Error", { message: "startup script exit code 6" });
  const removedIdle = vm("old", "Started");
  const removedBusy = vm("old", "Started");
  const plan = planPass(
    input({
      classes: [ios],
      vms: [
        done,
        busyInError,
        oldIdle,
        youngIdle,
        stuck,
        pulling,
        neverRegistered,
        registeringSoon,
        wentOffline,
        failed,
        removedIdle,
        removedBusy,
      ],
      agents: [
        agent(done.agentName, {
          status: "offline",
          lastCompletedRequest: { requestId: 5, result: "succeeded" },
        }),
        agent(busyInError.agentName, { assignedRequest: { requestId: 6 } }),
        agent(oldIdle.agentName, { statusChangedOn: new Date(NOW - 11 * MIN).toISOString() }),
        agent(youngIdle.agentName),
        agent(wentOffline.agentName, {
          status: "offline",
          statusChangedOn: new Date(NOW - 11 * MIN).toISOString(),
        }),
        agent(removedIdle.agentName),
        agent(removedBusy.agentName, { assignedRequest: { requestId: 7 } }),
      ],
    }),
  );
  const verdict = (v: ObservedVm) => {
    const found = plan.verdicts.find((entry) => entry.vm === v);
    return `${found?.phase}/${found?.action}`;
  };
  assert.equal(verdict(done), "done/terminate");
  assert.equal(verdict(busyInError), "busy/keep", "a running job is left alone");
  assert.equal(verdict(oldIdle), "idle/recycle");
  assert.equal(verdict(youngIdle), "idle/keep");
  assert.equal(verdict(stuck), "failed/terminate");
  assert.equal(verdict(pulling), "starting/keep");
  assert.equal(verdict(neverRegistered), "failed/terminate");
  assert.equal(verdict(registeringSoon), "registering/keep");
  assert.equal(verdict(wentOffline), "failed/terminate");
  assert.equal(verdict(failed), "failed/terminate");
  assert.match(plan.verdicts.find((v) => v.vm === failed)?.reason ?? "", /Error: startup script exit code 6/);
  assert.equal(verdict(removedIdle), "idle/terminate");
  assert.equal(verdict(removedBusy), "busy/keep");
});

test("placeholders: added per class, updated when the capabilities change, removed with the class, never capacity", () => {
  const ios = cls("ios");
  const mac = cls("mac");
  const stale = agent("anka-placeholder-ios", {
    status: "offline",
    systemCapabilities: {},
    userCapabilities: { "anka-class": "ios", "anka-template": "old" },
  });
  const gone = agent("anka-placeholder-legacy", {
    status: "offline",
    userCapabilities: { "anka-class": "legacy" },
  });
  const notOurs = agent("anka-placeholder-manual", {
    status: "offline",
    systemCapabilities: {},
    userCapabilities: {},
  });
  const plan = planPass(
    input({ classes: [ios, mac], agents: [stale, gone, notOurs], jobs: [job(["anka-class -equals ios"])] }),
  );
  assert.deepEqual(plan.placeholders.add, [{ className: "mac", capabilities: mac.capabilities }]);
  assert.deepEqual(
    plan.placeholders.update.map((u) => [u.agent.name, u.capabilities]),
    [["anka-placeholder-ios", ios.capabilities]],
  );
  assert.deepEqual(
    plan.placeholders.remove.map((a) => a.name),
    ["anka-placeholder-legacy"],
  );
  assert.deepEqual(startsOf(plan), { ios: 1 }, "the placeholder does not serve the job");
  assert.deepEqual(plan.staleAgents, []);
  // An unresolved class keeps whatever placeholder it has.
  const unready = planPass(input({ classes: [cls("ios", {}, { ready: false })], agents: [stale] }));
  assert.deepEqual(unready.placeholders, { add: [], update: [], remove: [] });
});

test("stale agents: offline VM agents of the service that no live instance carries", () => {
  const live = vm("ios", "Started");
  const spent = agent("anka-ios-aaaa", { status: "offline", lastCompletedRequest: { requestId: 1 } });
  const old = agent("anka-ios-bbbb", {
    status: "offline",
    statusChangedOn: new Date(NOW - 11 * MIN).toISOString(),
  });
  const young = agent("anka-ios-cccc", {
    status: "offline",
    statusChangedOn: new Date(NOW - MIN).toISOString(),
  });
  const taskAgent = agent("anka-1234", {
    status: "offline",
    systemCapabilities: { ANKA_AGENT_IDENTIFIER: "1234" },
  });
  const carried = agent(live.agentName, { status: "offline" });
  const plan = planPass(
    input({ classes: [cls("ios")], vms: [live], agents: [spent, old, young, taskAgent, carried] }),
  );
  assert.deepEqual(
    plan.staleAgents.map((s) => s.agent.name),
    ["anka-ios-aaaa", "anka-ios-bbbb"],
  );
});

test("fleet scale (issue 14 item 1 and 4): 400 live VMs and 500 queued jobs over 4 classes, planned in memory under 50 ms of CPU, exactly one VM per unserved job up to the caps", () => {
  const names = ["sonoma", "sequoia", "ventura", "tahoe"];
  const classes = names.map((name) => cls(name, { max: 150 }));
  const vms: ObservedVm[] = [];
  const agents: Agent[] = [];
  const jobs: JobRequest[] = [];
  for (const name of names) {
    // Per class: 70 VMs running a job, 15 idle, 15 still starting = 100 live, 30 with no job yet.
    for (let n = 0; n < 100; n++) {
      const machine = vm(name, n < 85 ? "Started" : "Scheduling");
      vms.push(machine);
      if (n >= 85) continue;
      const running = n < 70 ? job([`anka-class -equals ${name}`]) : undefined;
      if (running) jobs.push({ ...running, assignTime: new Date(NOW).toISOString() });
      agents.push(
        agent(machine.agentName, running ? { assignedRequest: { requestId: running.requestId } } : {}),
      );
    }
    // 125 queued per class: 30 go to the VMs without a job, 95 need new VMs, but max leaves room for 50.
    for (let n = 0; n < 125; n++) jobs.push(job([`anka-class -equals ${name}`]));
  }
  const fleet = input({ classes, vms, agents, jobs, maxVms: 1000 });
  const cpuMs: number[] = [];
  let plan = planPass(fleet);
  for (let run = 0; run < 5; run++) {
    const before = process.cpuUsage();
    plan = planPass(fleet);
    const used = process.cpuUsage(before);
    cpuMs.push((used.user + used.system) / 1000);
  }
  cpuMs.sort((a, b) => a - b);
  assert.ok((cpuMs[2] ?? Infinity) < 50, `planning CPU (median of 5): ${cpuMs[2]} ms`);
  assert.deepEqual(startsOf(plan), { sonoma: 50, sequoia: 50, ventura: 50, tahoe: 50 });
  // Under a fleet-wide cap the starts are shared out one per class per round, oldest queue first.
  const capped = planPass({ ...fleet, maxVms: 410 });
  assert.deepEqual(startsOf(capped), { sonoma: 3, sequoia: 3, ventura: 2, tahoe: 2 });
  // With room everywhere: one VM per queued job that no VM without a job will take, no more.
  const roomy = planPass({ ...fleet, classes: names.map((name) => cls(name, { max: 1000 })) });
  assert.deepEqual(startsOf(roomy), { sonoma: 95, sequoia: 95, ventura: 95, tahoe: 95 });
});
