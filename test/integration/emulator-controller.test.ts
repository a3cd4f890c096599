// The controller emulator, driven over real HTTP with plain fetch (not the project's client): every
// behaviour the reference documents describe, with the exact shapes of the recorded controller answers.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, test, type TestContext } from "node:test";
import {
  startControllerEmulator,
  type ControllerEmulator,
  type ControllerEmulatorOptions,
  type EmulatorSeed,
  type InstanceListEntry,
  type InstanceObject,
  type InstanceState,
  type ScriptContext,
  type ScriptRunner,
  type Timing,
} from "../../emulator/controller/index.ts";

// From emulator/data/controller-seed.json.
const SONOMA = "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c"; // base, xcode-15, xcode-15.4; cached on STUDIO: base, xcode-15.4
const SEQUOIA = "c7a2f1d0-5b8e-4c39-9e61-0d4b7a3f8e12"; // cached nowhere: every start pulls
const STUDIO = "f9673afe-dc07-4683-b625-2bbf9f35f566"; // group ios-builders, capacity 2
const MINI = "3d8e1a52-7f64-4b0c-9a2e-5c1f8b7d6e43"; // group general, capacity 2, nothing cached
const IOS_BUILDERS = "a41f6c3e-9d27-4b85-8e0a-3f5c1b7d9e24";
const GENERAL = "5e8b2d71-0c4a-4f96-a1d3-7b9e6c2f4a08";

/** Phases long enough for a 5 ms poll to see each one, short enough for a quick file. */
const TIMING: Partial<Timing> = {
  schedulingMs: 80,
  pullMs: 200,
  pullSteps: 4,
  bootMs: 60,
  ipDelayMs: 80,
  terminatingMs: 80,
  terminatedRetentionMs: 250,
};
/** Everything after the request at once: for tests about queues and faults, not phases. */
const INSTANT: Partial<Timing> = {
  schedulingMs: 1,
  pullMs: 1,
  pullSteps: 1,
  bootMs: 1,
  ipDelayMs: 1,
  terminatingMs: 1,
  terminatedRetentionMs: 5000,
};

// Key sets of the recorded controller answers (reference anka-fixtures): an empty group_id and
// usb_device are omitted there, whatever the documented omission rule (reference §4.1) says.
const SCHEDULING_KEYS = [
  ...["instance_id", "instance_state", "anka_registry", "vmid", "tag", "inflight_reqid", "ts", "cr_time"],
  ...["progress", "external_id", "arch", "vlan"],
];
const TERMINATED_KEYS = [...SCHEDULING_KEYS, "message"];
const SCRIPT_ERROR_KEYS = [...SCHEDULING_KEYS, "message", "vminfo", "node_id", "startup_script"];
const STARTED_MONITORED_KEYS = [...SCHEDULING_KEYS, "vminfo", "node_id", "startup_script"];
const VMINFO_KEYS = [
  ...["uuid", "name", "cpu_cores", "ram", "status", "node_id", "host_ip", "ip", "vnc_port"],
  ...["vnc_connection_string", "creation_date", "stop_date", "version", "port_forwarding", "start_date"],
  "timestamp",
];
const SCRIPT_RESULT_KEYS = ["return_code", "did_timeout", "stdout", "stderr"];
const WRAPPER_KEYS = ["external_id", "instance_id", "name", "vm"];

const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
/** UUID-shaped, variant nibble outside RFC 4122's 8-b (reference §1). */
const CONTROLLER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-7][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Envelope<T = unknown> {
  status: string;
  message: string;
  body?: T;
}
interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  headers: Headers;
}

async function emulator(
  t: TestContext,
  options: ControllerEmulatorOptions = {},
): Promise<ControllerEmulator> {
  const emu = await startControllerEmulator({ timing: TIMING, ...options });
  t.after(() => emu.close());
  return emu;
}

/** A body that is a string is sent raw; anything else as JSON. */
async function call(emu: ControllerEmulator, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(emu.url + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    text: await response.text(),
    headers: response.headers,
  };
}

async function envelope<T = unknown>(
  emu: ControllerEmulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Envelope<T> }> {
  const answer = await call(emu, method, path, body);
  assert.equal(answer.contentType, "application/json");
  return { status: answer.status, json: JSON.parse(answer.text) as Envelope<T> };
}

async function startInstances(emu: ControllerEmulator, request: Record<string, unknown>): Promise<string[]> {
  const { status, json } = await envelope<string[]>(emu, "POST", "/api/v1/vm", request);
  assert.equal(status, 200, json.message);
  assert.deepEqual(Object.keys(json).sort(), ["body", "message", "status"]);
  assert.equal(json.status, "OK");
  return json.body ?? [];
}

async function startOne(emu: ControllerEmulator, request: Record<string, unknown>): Promise<string> {
  const [id] = await startInstances(emu, request);
  assert.ok(id);
  return id;
}

async function getInstance(emu: ControllerEmulator, id: string): Promise<InstanceObject> {
  const { status, json } = await envelope<InstanceObject>(emu, "GET", `/api/v1/vm?id=${id}`);
  assert.equal(status, 200, json.message);
  assert.ok(json.body);
  return json.body;
}

async function terminate(emu: ControllerEmulator, id: string): Promise<void> {
  const { status, json } = await envelope(emu, "DELETE", "/api/v1/vm", { id });
  assert.equal(status, 200);
  assert.deepEqual(json, { status: "OK", message: "" });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls an instance every few ms and keeps each distinct snapshot until `done` holds. */
async function observe(
  emu: ControllerEmulator,
  id: string,
  done: (view: InstanceObject) => boolean,
  timeoutMs = 4000,
): Promise<InstanceObject[]> {
  const seen: InstanceObject[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await getInstance(emu, id);
    const last = seen.at(-1);
    if (!last || JSON.stringify(last) !== JSON.stringify(view)) seen.push(view);
    if (done(view)) return seen;
    if (Date.now() > deadline) assert.fail(`timed out; states seen: ${states(seen).join(" > ")}`);
    await sleep(5);
  }
}

const hasState = (state: InstanceState) => (view: InstanceObject) => view.instance_state === state;

/** Consecutive distinct states. */
function states(views: InstanceObject[]): InstanceState[] {
  return views.map((view) => view.instance_state).filter((state, index, all) => all[index - 1] !== state);
}

async function waitUntil(condition: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail("condition not met in time");
    await sleep(5);
  }
}

const sortedKeys = (value: object) => Object.keys(value).sort();
const keysOf = (list: string[]) => [...list].sort();

/** A seed with one node of one slot that has sonoma-14 xcode-15.4 cached. */
function oneSlotSeed(emuSeed: EmulatorSeed): EmulatorSeed {
  const [studio] = emuSeed.nodes;
  assert.ok(studio);
  return { ...emuSeed, nodes: [{ ...studio, capacity: 1 }] };
}

async function defaultSeed(): Promise<EmulatorSeed> {
  const { loadDefaultSeed } = await import("../../emulator/controller/index.ts");
  return loadDefaultSeed();
}

describe("read-only endpoints", { concurrency: true }, () => {
  test("GET /api/v1/status answers the status body of reference §6", async (t) => {
    const emu = await emulator(t);
    const { status, json } = await envelope<Record<string, string>>(emu, "GET", "/api/v1/status");
    assert.equal(status, 200);
    assert.equal(json.status, "OK");
    assert.equal(json.message, "");
    assert.deepEqual(json.body, {
      status: "Running",
      version: "1.50.1-4e3c2d9a",
      registry_address: "http://anka.registry:8089",
      registry_status: "Running",
      license: "enterprise plus",
    });
  });

  test("/livez and /readyz answer 200 without an envelope", async (t) => {
    const emu = await emulator(t);
    for (const path of ["/livez", "/readyz"]) {
      const answer = await call(emu, "GET", path);
      assert.equal(answer.status, 200);
      assert.equal(answer.text, "ok");
    }
  });

  test("GET /api/v1/registry/vm lists templates; ?apiVer=v1 leaves out size and arch", async (t) => {
    const emu = await emulator(t);
    const full = await envelope<Array<Record<string, unknown>>>(emu, "GET", "/api/v1/registry/vm");
    assert.equal(full.json.body?.length, 3);
    const sonoma = full.json.body?.find((template) => template.id === SONOMA);
    assert.deepEqual(
      sonoma && sortedKeys(sonoma),
      keysOf(["id", "name", "size", "arch", "last_pull", "last_push"]),
    );
    assert.equal(sonoma?.name, "sonoma-14");
    assert.equal(sonoma?.arch, "arm64");
    assert.equal(typeof sonoma?.last_pull, "number");
    const light = await envelope<Array<Record<string, unknown>>>(emu, "GET", "/api/v1/registry/vm?apiVer=v1");
    for (const template of light.json.body ?? []) {
      assert.deepEqual(sortedKeys(template), keysOf(["id", "name", "last_pull", "last_push"]));
    }
  });

  test("GET /api/v1/registry/vm?id= shows versions; an unknown id is a FAIL", async (t) => {
    const emu = await emulator(t);
    const { json } = await envelope<{ name: string; arch: string; versions: Array<Record<string, unknown>> }>(
      emu,
      "GET",
      `/api/v1/registry/vm?id=${SONOMA}`,
    );
    assert.equal(json.body?.name, "sonoma-14");
    assert.deepEqual(
      json.body?.versions.map((version) => [version.number, version.tag]),
      [
        [0, "base"],
        [1, "xcode-15"],
        [2, "xcode-15.4"],
      ],
    );
    const version = json.body?.versions[0] ?? {};
    for (const key of [
      "number",
      "tag",
      "description",
      "size",
      "arch",
      "last_pull",
      "last_push",
      "config_file",
    ]) {
      assert.ok(key in version, key);
    }
    const unknown = await envelope(emu, "GET", "/api/v1/registry/vm?id=00000000-0000-0000-0000-000000000000");
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, { status: "FAIL", message: "VM not in the registry" });
  });

  test("GET /api/v1/group and /api/v1/node (?id= answers an array of one)", async (t) => {
    const emu = await emulator(t);
    const groups = await envelope<unknown[]>(emu, "GET", "/api/v1/group");
    assert.deepEqual(groups.json.body, [
      {
        id: IOS_BUILDERS,
        name: "ios-builders",
        description: "Apple silicon nodes reserved for iOS builds",
        fallback_group_id: null,
      },
      { id: GENERAL, name: "general", description: "Shared macOS capacity", fallback_group_id: null },
    ]);
    const nodes = await envelope<Array<Record<string, unknown>>>(emu, "GET", "/api/v1/node");
    assert.deepEqual(
      nodes.json.body?.map((node) => [
        node.node_id,
        node.state,
        node.capacity,
        node.vm_count,
        node.host_arch,
      ]),
      [
        [STUDIO, "Active", 2, 0, "arm64"],
        [MINI, "Active", 2, 0, "arm64"],
      ],
    );
    const one = await envelope<Array<{ node_name: string; templates: unknown[] }>>(
      emu,
      "GET",
      `/api/v1/node?id=${STUDIO}`,
    );
    assert.equal(one.json.body?.length, 1);
    assert.equal(one.json.body?.[0]?.node_name, "mac-studio-01");
    assert.deepEqual(one.json.body?.[0]?.templates, [
      { uuid: SONOMA, name: "sonoma-14", tag: "base" },
      { uuid: SONOMA, name: "sonoma-14", tag: "xcode-15.4" },
    ]);
    const unknown = await envelope(emu, "GET", "/api/v1/node?id=nope");
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, { status: "FAIL", message: "Not found" });
  });

  test("an unknown path is a 404 FAIL and a wrong method a 405 FAIL", async (t) => {
    const emu = await emulator(t);
    const unknown = await envelope(emu, "GET", "/api/v1/nope");
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, { status: "FAIL", message: "404 page not found" });
    const answer = await call(emu, "PATCH", "/api/v1/vm", {});
    assert.equal(answer.status, 405);
    assert.deepEqual(JSON.parse(answer.text), { status: "FAIL", message: "Method Not Allowed" });
    assert.equal(answer.headers.get("allow"), "GET, POST, PUT, DELETE");
  });
});

describe("POST /api/v1/vm validation", { concurrency: true }, () => {
  const cases: Array<[string, unknown, string]> = [
    ["malformed JSON", "{", "invalid JSON body: "],
    ["a JSON array", [], "json: cannot unmarshal array into Go value of type StartVmRequest"],
    ["no vmid", {}, "VM not in the registry"],
    ["an unknown vmid", { vmid: "6b135004-0000-4000-8000-000000000000" }, "VM not in the registry"],
    [
      "a vmid that is a number",
      { vmid: 7 },
      "json: cannot unmarshal number into Go struct field StartVmRequest.vmid of type string",
    ],
    ["an unknown tag", { vmid: SONOMA, tag: "xcode-99" }, "No such tag xcode-99"],
    ["an unknown version", { vmid: SONOMA, version: 9 }, "No such version 9"],
    ["a version whose tag differs", { vmid: SONOMA, version: 0, tag: "xcode-15" }, "No such tag xcode-15"],
    ["priority 0", { vmid: SONOMA, priority: 0 }, "priority must be between 1 and 10000, got 0"],
    ["priority 10001", { vmid: SONOMA, priority: 10001 }, "priority must be between 1 and 10000, got 10001"],
    [
      "priority as a string",
      { vmid: SONOMA, priority: "5" },
      "json: cannot unmarshal string into Go struct field StartVmRequest.priority of type int",
    ],
    [
      "count as a string",
      { vmid: SONOMA, count: "2" },
      "json: cannot unmarshal string into Go struct field StartVmRequest.count of type int",
    ],
    [
      "a fractional count",
      { vmid: SONOMA, count: 1.5 },
      "json: cannot unmarshal number 1.5 into Go struct field StartVmRequest.count of type int",
    ],
    ["count 0", { vmid: SONOMA, count: 0 }, "count must be at least 1"],
    [
      "script_monitoring as a string",
      { vmid: SONOMA, script_monitoring: "true" },
      "json: cannot unmarshal string into Go struct field StartVmRequest.script_monitoring of type bool",
    ],
    ["script_timeout 0", { vmid: SONOMA, script_timeout: 0 }, "script_timeout must be at least 1 second"],
    [
      "startup_script_condition 2",
      { vmid: SONOMA, startup_script_condition: 2 },
      "startup_script_condition must be 0 or 1",
    ],
    [
      "script_fail_handler 3",
      { vmid: SONOMA, script_fail_handler: 3 },
      "script_fail_handler must be 0, 1 or 2",
    ],
    ["vcpu 0", { vmid: SONOMA, vcpu: 0 }, "vcpu must be at least 1"],
    [
      "metadata that is not an object",
      { vmid: SONOMA, metadata: "x" },
      "json: cannot unmarshal string into Go struct field StartVmRequest.metadata of type map[string]interface {}",
    ],
    [
      "a nested metadata value",
      { vmid: SONOMA, metadata: { job: { id: 1 } } },
      'metadata: value of "job" must be a string, a number or a boolean',
    ],
    // Offsets as Go's base64.StdEncoding reports them.
    [
      "a bad base64 character",
      { vmid: SONOMA, startup_script: "abc!" },
      "illegal base64 data at input byte 3",
    ],
    [
      "base64 without padding",
      { vmid: SONOMA, startup_script: "ZWNobyBoaQ" },
      "illegal base64 data at input byte 8",
    ],
    ["a short base64 input", { vmid: SONOMA, startup_script: "abc" }, "illegal base64 data at input byte 0"],
    [
      "a single padding character where two are due",
      { vmid: SONOMA, startup_script: "ZW=v" },
      "illegal base64 data at input byte 2",
    ],
    [
      "data after the padding",
      { vmid: SONOMA, startup_script: "QQ==QQ==" },
      "illegal base64 data at input byte 4",
    ],
    [
      "a multi-byte character",
      { vmid: SONOMA, startup_script: "ZWNo\u00e9" },
      "illegal base64 data at input byte 4",
    ],
  ];
  for (const [what, body, message] of cases) {
    test(`${what}: 400 FAIL "${message}"`, async (t) => {
      const emu = await emulator(t);
      const { status, json } = await envelope(emu, "POST", "/api/v1/vm", body);
      assert.equal(status, 400);
      assert.equal(json.status, "FAIL");
      assert.ok(!("body" in json), "a FAIL has no body");
      if (message.endsWith(": ")) assert.ok(json.message.startsWith(message), json.message);
      else assert.equal(json.message, message);
      assert.equal(emu.instances().length, 0, "nothing started");
    });
  }

  test("lenientNumbers accepts numeric strings for int fields", async (t) => {
    const emu = await emulator(t, { lenientNumbers: true, timing: INSTANT });
    const ids = await startInstances(emu, { vmid: SONOMA, count: "2", priority: "5" });
    assert.equal(ids.length, 2);
  });

  test("base64 with line breaks decodes as Go does, and the runner gets the decoded text", async (t) => {
    const scripts: string[] = [];
    const emu = await emulator(t, {
      timing: INSTANT,
      scriptRunner: async (ctx) => {
        scripts.push(ctx.script);
        return { return_code: 0, did_timeout: false, stdout: "", stderr: "" };
      },
    });
    const encoded = Buffer.from("echo 'hello'\n").toString("base64");
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: `${encoded.slice(0, 5)}\r\n${encoded.slice(5)}`,
    });
    await observe(emu, id, hasState("Started"));
    // Unmonitored, the script runs once the network is up: after Started.
    await waitUntil(() => scripts.length > 0);
    assert.deepEqual(scripts, ["echo 'hello'\n"]);
  });
});

// One instance at a time, so that a 5 ms poll sees every phase even on a busy machine.
describe("instance timeline, observed phase by phase", () => {
  test("cold start: Scheduling > Pulling (progress 0..1) > Scheduling > Started, ip empty then set", async (t) => {
    const emu = await emulator(t);
    const id = await startOne(emu, { vmid: SEQUOIA, external_id: "build-42" });
    assert.match(id, CONTROLLER_ID);
    const seen = await observe(
      emu,
      id,
      (view) => view.instance_state === "Started" && view.vminfo?.ip !== "",
    );
    assert.deepEqual(states(seen), ["Scheduling", "Pulling", "Scheduling", "Started"]);

    const first = seen[0] as InstanceObject;
    assert.deepEqual(
      sortedKeys(first),
      keysOf(SCHEDULING_KEYS),
      "Scheduling: no vminfo, no node_id, no name",
    );
    assert.equal(first.progress, 0);
    assert.equal(first.external_id, "build-42");
    assert.equal(first.tag, "xcode-16.2", "no tag: the latest version");
    assert.equal(first.arch, "arm64");
    assert.equal(first.vlan, "");
    assert.equal(first.group_id, undefined, "an empty group_id is omitted, as in every recording");
    assert.equal(first.anka_registry, "http://anka.registry:8089");
    assert.match(first.cr_time, RFC3339_NANO);
    assert.match(first.inflight_reqid ?? "", CONTROLLER_ID);

    const pulling = seen.filter(hasState("Pulling"));
    for (const view of pulling) assert.deepEqual(sortedKeys(view), keysOf(SCHEDULING_KEYS));
    const progress = pulling.map((view) => view.progress);
    assert.ok(
      progress.some((value) => value > 0 && value < 1),
      `progress seen: ${progress}`,
    );
    assert.deepEqual(progress, [...progress].sort(), "progress only rises");

    const afterPull = seen.find(
      (view, index) =>
        index > seen.indexOf(pulling[0] as InstanceObject) && view.instance_state === "Scheduling",
    );
    assert.equal(afterPull?.progress, 0);

    const started = seen.filter(hasState("Started"));
    assert.equal(started[0]?.vminfo?.ip, "", "vminfo appears before the network is up");
    const last = seen.at(-1) as InstanceObject;
    assert.match(last.vminfo?.ip ?? "", /^192\.168\.64\.\d{1,3}$/);
    assert.deepEqual(sortedKeys(last.vminfo ?? {}), keysOf(VMINFO_KEYS));
    assert.equal(last.node_id, last.vminfo?.node_id);
    assert.equal(last.vminfo?.status, "running");
    assert.equal(last.vminfo?.stop_date, "0001-01-01T00:00:00Z");
    assert.match(last.vminfo?.name ?? "", /^mgmtManaged-sequoia-15-\d+$/);
    assert.equal(last.startup_script, undefined, "no script, no result object");
    assert.equal(last.cr_time, first.cr_time);
    assert.notEqual(last.ts, first.ts, "ts follows state changes");
    assert.match(last.ts, RFC3339_NANO);
  });

  test("warm start: the node has the template, so there is no Pulling", async (t) => {
    const emu = await emulator(t);
    const id = await startOne(emu, { vmid: SONOMA, tag: "xcode-15.4", node_id: STUDIO });
    const seen = await observe(emu, id, hasState("Started"));
    assert.deepEqual(states(seen), ["Scheduling", "Started"]);
    assert.equal(seen.at(-1)?.node_id, STUDIO);
  });

  test("monitored script: Scheduling with vminfo while it runs, Started with its result after exit 0", async (t) => {
    const calls: Array<Omit<ScriptContext, "signal">> = [];
    const emu = await emulator(t, {
      scriptRunner: async ({ signal: _signal, ...ctx }) => {
        calls.push(ctx);
        await sleep(100);
        return { return_code: 0, did_timeout: false, stdout: "agent configured\n", stderr: "" };
      },
    });
    const script = "#!/bin/sh\necho configured\n";
    const id = await startOne(emu, {
      vmid: SONOMA,
      tag: "xcode-15.4",
      external_id: "build-7",
      startup_script: Buffer.from(script).toString("base64"),
      script_monitoring: true,
    });
    const seen = await observe(emu, id, hasState("Started"));
    assert.deepEqual(states(seen), ["Scheduling", "Started"]);
    const booted = seen.filter((view) => view.instance_state === "Scheduling" && view.vminfo);
    assert.ok(booted.length > 0, "vminfo appears while still Scheduling");
    const started = seen.at(-1) as InstanceObject;
    assert.deepEqual(sortedKeys(started), keysOf(STARTED_MONITORED_KEYS));
    assert.deepEqual(started.startup_script, {
      return_code: 0,
      did_timeout: false,
      stdout: "agent configured\n",
      stderr: "",
    });
    assert.deepEqual(calls, [
      { instanceId: id, script, externalId: "build-7", vmIp: started.vminfo?.ip, timeoutSec: 90 },
    ]);
    assert.notEqual(calls[0]?.vmIp, "", "condition 0: the script waits for the network");
  });

  test("unmonitored script: Started without waiting for it, no result object, killed on DELETE", async (t) => {
    let signal: AbortSignal | undefined;
    const emu = await emulator(t, {
      scriptRunner: (ctx) => {
        signal = ctx.signal;
        return new Promise(() => {}); // never exits by itself
      },
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("sleep 600").toString("base64"),
    });
    const seen = await observe(
      emu,
      id,
      (view) => view.instance_state === "Started" && view.vminfo?.ip !== "",
    );
    assert.deepEqual(states(seen), ["Scheduling", "Started"]);
    await waitUntil(() => signal !== undefined);
    assert.equal(seen.at(-1)?.startup_script, undefined);
    assert.equal(signal?.aborted, false);
    await terminate(emu, id);
    assert.equal(signal?.aborted, true);
  });

  test("DELETE during the script kills it; its late exit 0 never makes the instance Started", async (t) => {
    let signal: AbortSignal | undefined;
    const emu = await emulator(t, {
      timing: { ...TIMING, terminatedRetentionMs: 5000 },
      scriptRunner: (ctx) => {
        signal = ctx.signal;
        // Exits 0 on abort, as a script that traps the kill might.
        return new Promise((resolve) =>
          ctx.signal.addEventListener("abort", () =>
            resolve({ return_code: 0, did_timeout: false, stdout: "", stderr: "" }),
          ),
        );
      },
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("sleep 600").toString("base64"),
      script_monitoring: true,
    });
    await waitUntil(() => signal !== undefined);
    await terminate(emu, id);
    assert.equal(signal?.aborted, true);
    // Still Scheduling (the script holds it there), so it never started: no Terminated (anka-controller-2026 §3.3).
    await sleep(100);
    assert.equal((await getInstance(emu, id)).instance_state, "Terminating");
  });

  test("DELETE while Pulling: Terminating until it vanishes, never Terminated, and no late phase brings it back", async (t) => {
    const emu = await emulator(t, { timing: { ...TIMING, terminatedRetentionMs: 600 } });
    const id = await startOne(emu, { vmid: SEQUOIA });
    await observe(emu, id, hasState("Pulling"));
    await terminate(emu, id);
    await sleep(400); // beyond the rest of the pull, the boot and the network
    assert.equal((await getInstance(emu, id)).instance_state, "Terminating");
    assert.equal(emu.liveInstances(), 0);
    await waitUntil(async () => (await call(emu, "GET", `/api/v1/vm?id=${id}`)).status === 404);
  });

  test("Terminated has the recorded shape, then the instance vanishes: GET and DELETE say Not found", async (t) => {
    const emu = await emulator(t);
    const id = await startOne(emu, { vmid: SONOMA, external_id: "build-9" });
    await observe(emu, id, hasState("Started"));
    await terminate(emu, id);
    const terminated = (await observe(emu, id, hasState("Terminated"))).at(-1) as InstanceObject;
    assert.deepEqual(sortedKeys(terminated), keysOf(TERMINATED_KEYS));
    assert.equal(terminated.message, "instance terminated by controller");
    assert.equal(terminated.progress, 0);
    await terminate(emu, id); // a repeated DELETE is fine
    assert.equal(emu.instances().length, 1);
    assert.equal(emu.liveInstances(), 0);
    await waitUntil(async () => (await call(emu, "GET", `/api/v1/vm?id=${id}`)).status === 404);
    const gone = await envelope(emu, "GET", `/api/v1/vm?id=${id}`);
    assert.deepEqual(gone.json, { status: "FAIL", message: "Not found" });
    const again = await envelope(emu, "DELETE", "/api/v1/vm", { id });
    assert.equal(again.status, 404);
    assert.deepEqual(again.json, { status: "FAIL", message: "Not found" });
    assert.equal(emu.instances().length, 0);
  });
});

describe("instance lifecycle", { concurrency: true }, () => {
  test("a pull caches the template on the node: the next start there does not pull", async (t) => {
    const emu = await emulator(t, { timing: { ...INSTANT, pullMs: 300, pullSteps: 3 } });
    const cachedOnMini = async () =>
      (
        await envelope<Array<{ templates: unknown[]; vm_count: number }>>(
          emu,
          "GET",
          `/api/v1/node?id=${MINI}`,
        )
      ).json.body?.[0];
    assert.deepEqual((await cachedOnMini())?.templates, []);
    const first = await startOne(emu, { vmid: SONOMA, tag: "xcode-15", node_id: MINI });
    assert.ok(states(await observe(emu, first, hasState("Started"))).includes("Pulling"));
    const second = await startOne(emu, { vmid: SONOMA, tag: "xcode-15", node_id: MINI });
    assert.ok(!states(await observe(emu, second, hasState("Started"))).includes("Pulling"));
    assert.deepEqual((await cachedOnMini())?.templates, [
      { uuid: SONOMA, name: "sonoma-14", tag: "xcode-15" },
    ]);
    assert.equal((await cachedOnMini())?.vm_count, 2);
  });

  test("monitored script exiting 127: Error with message and startup_script, VM stopped (fail handler 0)", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      scriptRunner: async () => ({
        return_code: 127,
        did_timeout: false,
        stdout: "",
        stderr: "sh: line 1: foo: command not found\n",
      }),
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      external_id: "build-8",
      startup_script: Buffer.from("foo").toString("base64"),
      script_monitoring: true,
    });
    const seen = await observe(emu, id, hasState("Error"));
    assert.ok(!states(seen).includes("Started"), states(seen).join(" > "));
    const failed = seen.at(-1) as InstanceObject;
    assert.deepEqual(sortedKeys(failed), keysOf(SCRIPT_ERROR_KEYS));
    assert.equal(failed.message, "startup script exit code 127");
    assert.deepEqual(sortedKeys(failed.startup_script ?? {}), keysOf(SCRIPT_RESULT_KEYS));
    assert.deepEqual(failed.startup_script, {
      return_code: 127,
      did_timeout: false,
      stdout: "",
      stderr: "sh: line 1: foo: command not found\n",
    });
    assert.equal(failed.vminfo?.status, "stopped");
  });

  test("script_fail_handler 1 keeps the failed VM running", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      scriptRunner: async () => ({ return_code: 1, did_timeout: false, stdout: "", stderr: "" }),
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("false").toString("base64"),
      script_monitoring: true,
      script_fail_handler: 1,
    });
    const failed = (await observe(emu, id, hasState("Error"))).at(-1);
    assert.equal(failed?.message, "startup script exit code 1");
    assert.equal(failed?.vminfo?.status, "running");
  });

  test("script timeout: the runner is aborted, Error with return_code -1 and did_timeout", async (t) => {
    let aborted = false;
    const emu = await emulator(t, {
      timing: INSTANT,
      scriptRunner: ({ signal }) =>
        new Promise((resolve) => {
          signal.addEventListener("abort", () => {
            aborted = true;
            resolve({ return_code: 143, did_timeout: false, stdout: "half done\n", stderr: "" });
          });
        }),
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("sleep 600").toString("base64"),
      script_monitoring: true,
      script_timeout: 1,
    });
    const startedAt = Date.now();
    const failed = (await observe(emu, id, hasState("Error"))).at(-1);
    assert.ok(Date.now() - startedAt >= 900, "waited for script_timeout");
    assert.ok(aborted);
    assert.equal(failed?.message, "startup script exit code -1");
    assert.deepEqual(failed?.startup_script, {
      return_code: -1,
      did_timeout: true,
      stdout: "half done\n",
      stderr: "",
    });
  });

  test("a runner that throws: Error 'Script execution failed' with the reason in errors", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      scriptRunner: async () => {
        throw new Error("communication timeout");
      },
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("true").toString("base64"),
      script_monitoring: true,
    });
    const failed = (await observe(emu, id, hasState("Error"))).at(-1);
    assert.equal(failed?.message, "Script execution failed");
    assert.deepEqual(failed?.startup_script, {
      return_code: -1,
      did_timeout: false,
      stdout: "",
      stderr: "",
      errors: ["communication timeout"],
    });
  });

  test("startup_script_condition 1 runs the script before the network is up", async (t) => {
    const ips: string[] = [];
    const emu = await emulator(t, {
      timing: INSTANT,
      scriptRunner: async (ctx) => {
        ips.push(ctx.vmIp);
        return { return_code: 0, did_timeout: false, stdout: "", stderr: "" };
      },
    });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("true").toString("base64"),
      startup_script_condition: 1,
      script_monitoring: true,
    });
    await observe(emu, id, hasState("Started"));
    assert.deepEqual(ips, [""]);
  });

  test("notFoundHttpStatus 200: Not found comes with HTTP 200", async (t) => {
    const emu = await emulator(t, { notFoundHttpStatus: 200 });
    const { status, json } = await envelope(emu, "GET", "/api/v1/vm?id=c983c3bf-a0c0-43dc-54dc-2fd9f7d62fce");
    assert.equal(status, 200);
    assert.deepEqual(json, { status: "FAIL", message: "Not found" });
  });

  test("DELETE needs its id in a JSON body", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const id = await startOne(emu, { vmid: SONOMA });
    for (const body of [undefined, {}, "{"]) {
      const answer = await call(emu, "DELETE", `/api/v1/vm?id=${id}`, body);
      assert.equal(answer.status, 400);
      assert.equal((JSON.parse(answer.text) as Envelope).status, "FAIL");
    }
    assert.equal(emu.liveInstances(), 1);
    await terminate(emu, id);
    assert.equal(emu.liveInstances(), 0);
  });

  test("count starts that many instances; vcpu, vram and version shape the VM", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const ids = await startInstances(emu, { vmid: SONOMA, version: 1, count: 3, vcpu: 2, vram: 6144 });
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.match(id, CONTROLLER_ID);
    const [first] = ids;
    const view = (await observe(emu, first as string, hasState("Started"))).at(-1);
    assert.equal(view?.tag, "xcode-15");
    assert.equal(view?.version, 1);
    assert.equal(view?.vminfo?.cpu_cores, 2);
    assert.equal(view?.vminfo?.ram, "6G");
  });

  test("GET /api/v1/vm lists wrappers with name and external_id, null when unset", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const named = await startOne(emu, { vmid: SONOMA, name: "anka-build-1", external_id: "build-1" });
    const bare = await startOne(emu, { vmid: SONOMA });
    const { json } = await envelope<InstanceListEntry[]>(emu, "GET", "/api/v1/vm");
    assert.equal(json.body?.length, 2);
    for (const entry of json.body ?? []) assert.deepEqual(sortedKeys(entry), keysOf(WRAPPER_KEYS));
    const byId = new Map(json.body?.map((entry) => [entry.instance_id, entry]));
    assert.equal(byId.get(named)?.name, "anka-build-1");
    assert.equal(byId.get(named)?.external_id, "build-1");
    assert.equal(byId.get(named)?.vm.name, "anka-build-1");
    assert.equal(byId.get(bare)?.name, null);
    assert.equal(byId.get(bare)?.external_id, null);
    assert.ok(!("name" in (byId.get(bare)?.vm ?? {})), "unset name is omitted inside vm");
    assert.ok(!("external_id" in (byId.get(bare)?.vm ?? {})));
    assert.equal(byId.get(bare)?.vm.instance_id, bare);
  });

  test("PUT /api/v1/vm?id= updates name, external_id and metadata", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const id = await startOne(emu, { vmid: SONOMA, metadata: { pipeline: "ios" } });
    const { status, json } = await envelope(emu, "PUT", `/api/v1/vm?id=${id}`, {
      name: "anka-42",
      external_id: "42",
      metadata: { run: 42, retried: false },
    });
    assert.equal(status, 200);
    assert.deepEqual(json, { status: "OK", message: "" });
    const view = await getInstance(emu, id);
    assert.equal(view.name, "anka-42");
    assert.equal(view.external_id, "42");
    assert.deepEqual(view.metadata, { pipeline: "ios", run: 42, retried: false });
    const unknown = await envelope(emu, "PUT", "/api/v1/vm?id=nope", { name: "x" });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, { status: "FAIL", message: "Not found" });
  });
});

describe("scheduling and capacity", { concurrency: true }, () => {
  test("a full cloud queues requests by priority, then arrival; each DELETE frees one slot", async (t) => {
    const emu = await emulator(t, { timing: INSTANT, seed: oneSlotSeed(await defaultSeed()) });
    const holder = await startOne(emu, { vmid: SONOMA, name: "holder" });
    await observe(emu, holder, hasState("Started"));
    const low = await startOne(emu, { vmid: SONOMA, name: "low", priority: 2000 });
    const firstNormal = await startOne(emu, { vmid: SONOMA, name: "normal-1" });
    const secondNormal = await startOne(emu, { vmid: SONOMA, name: "normal-2", priority: 1000 });
    const urgent = await startOne(emu, { vmid: SONOMA, name: "urgent", priority: 1 });
    await sleep(30);
    const started = async () =>
      (await Promise.all([low, firstNormal, secondNormal, urgent].map((id) => getInstance(emu, id))))
        .filter((view) => view.instance_state !== "Scheduling")
        .map((view) => view.name);
    assert.deepEqual(await started(), []);

    const order: Array<string | undefined> = [];
    let running = holder;
    for (const next of [urgent, firstNormal, secondNormal, low]) {
      await terminate(emu, running);
      await observe(emu, next, hasState("Started"));
      order.push((await getInstance(emu, next)).name);
      assert.equal((await started()).length, order.length, "one slot, one instance at a time");
      running = next;
    }
    assert.deepEqual(order, ["urgent", "normal-1", "normal-2", "low"]);
  });

  test("an Error instance holds its slot until deleted", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      seed: oneSlotSeed(await defaultSeed()),
      faults: [{ kind: "instance-error", message: "VM failed to boot" }],
    });
    const failed = await startOne(emu, { vmid: SONOMA });
    const view = (await observe(emu, failed, hasState("Error"))).at(-1);
    assert.equal(view?.message, "VM failed to boot");
    const waiting = await startOne(emu, { vmid: SONOMA });
    await sleep(40);
    assert.equal((await getInstance(emu, waiting)).instance_state, "Scheduling");
    await terminate(emu, failed);
    await observe(emu, waiting, hasState("Started"));
  });

  test("group_id and node_id choose the node", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const ios = await startOne(emu, { vmid: SONOMA, group_id: IOS_BUILDERS });
    const general = await startOne(emu, { vmid: SONOMA, group_id: GENERAL });
    const pinned = await startOne(emu, { vmid: SONOMA, node_id: MINI });
    const nodeOf = async (id: string) => (await observe(emu, id, hasState("Started"))).at(-1)?.node_id;
    assert.equal(await nodeOf(ios), STUDIO);
    assert.equal(await nodeOf(general), MINI);
    assert.equal(await nodeOf(pinned), MINI);
    assert.equal((await getInstance(emu, ios)).group_id, IOS_BUILDERS);
  });

  test("a full group hands requests to its fallback group", async (t) => {
    const seed = await defaultSeed();
    seed.nodes = seed.nodes.map((node) => ({ ...node, capacity: 1 }));
    seed.groups = seed.groups.map((group) =>
      group.id === IOS_BUILDERS ? { ...group, fallback_group_id: GENERAL } : group,
    );
    const emu = await emulator(t, { timing: INSTANT, seed });
    const first = await startOne(emu, { vmid: SONOMA, group_id: IOS_BUILDERS });
    const second = await startOne(emu, { vmid: SONOMA, group_id: IOS_BUILDERS });
    const third = await startOne(emu, { vmid: SONOMA, group_id: IOS_BUILDERS });
    assert.equal((await observe(emu, first, hasState("Started"))).at(-1)?.node_id, STUDIO);
    assert.equal((await observe(emu, second, hasState("Started"))).at(-1)?.node_id, MINI);
    await sleep(30);
    assert.equal((await getInstance(emu, third)).instance_state, "Scheduling");
  });

  test("a request for an unknown group waits in Scheduling", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const id = await startOne(emu, { vmid: SONOMA, group_id: "no-such-group" });
    await sleep(50);
    assert.equal((await getInstance(emu, id)).instance_state, "Scheduling");
  });
});

describe("fault injection", { concurrency: true }, () => {
  test("status: a FAIL envelope with the HTTP code, once by default", async (t) => {
    const emu = await emulator(t, { faults: [{ kind: "status" }] });
    const failed = await envelope(emu, "GET", "/api/v1/status");
    assert.equal(failed.status, 503);
    assert.deepEqual(failed.json, { status: "FAIL", message: "Service Unavailable" });
    assert.equal((await call(emu, "GET", "/api/v1/status")).status, 200);
  });

  test("status with a raw body, a message, method and path filters, and times", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    emu.addFault({
      kind: "status",
      status: 401,
      message: "Authentication Required",
      path: "/api/v1/vm",
      method: "get",
      times: 2,
    });
    emu.addFault({ kind: "status", status: 500, body: "upstream exploded", path: "/api/v1/node" });
    assert.equal((await call(emu, "GET", "/api/v1/status")).status, 200, "other paths are untouched");
    assert.equal((await call(emu, "POST", "/api/v1/vm", { vmid: SONOMA })).status, 200, "other methods too");
    for (let i = 0; i < 2; i++) {
      const failed = await envelope(emu, "GET", "/api/v1/vm");
      assert.equal(failed.status, 401);
      assert.deepEqual(failed.json, { status: "FAIL", message: "Authentication Required" });
    }
    assert.equal((await call(emu, "GET", "/api/v1/vm")).status, 200);
    const raw = await call(emu, "GET", "/api/v1/node");
    assert.equal(raw.status, 500);
    assert.equal(raw.text, "upstream exploded");
  });

  test("always: the rule stays until clearFaults", async (t) => {
    const emu = await emulator(t);
    emu.addFault({ kind: "status", status: 502, always: true });
    for (let i = 0; i < 3; i++) assert.equal((await call(emu, "GET", "/api/v1/status")).status, 502);
    emu.clearFaults();
    assert.equal((await call(emu, "GET", "/api/v1/status")).status, 200);
  });

  test("html: a proxy error page as text/html", async (t) => {
    const emu = await emulator(t, { faults: [{ kind: "html" }] });
    const answer = await call(emu, "GET", "/api/v1/status");
    assert.equal(answer.status, 502);
    assert.equal(answer.contentType, "text/html");
    assert.match(answer.text, /<title>502 Bad Gateway<\/title>/);
  });

  test("malformed: 200 with JSON that does not parse", async (t) => {
    const emu = await emulator(t, { faults: [{ kind: "malformed" }] });
    const answer = await call(emu, "GET", "/api/v1/vm");
    assert.equal(answer.status, 200);
    assert.equal(answer.contentType, "application/json");
    assert.throws(() => JSON.parse(answer.text), SyntaxError);
  });

  test("empty: an empty body with 200 or the given status", async (t) => {
    const emu = await emulator(t, { faults: [{ kind: "empty" }, { kind: "empty", status: 504 }] });
    const first = await call(emu, "GET", "/api/v1/vm");
    assert.deepEqual([first.status, first.text], [200, ""]);
    const second = await call(emu, "GET", "/api/v1/vm");
    assert.deepEqual([second.status, second.text], [504, ""]);
  });

  test("delay: the answer comes late but normal", async (t) => {
    const emu = await emulator(t, { faults: [{ kind: "delay", delayMs: 150 }] });
    const before = Date.now();
    const answer = await envelope(emu, "GET", "/api/v1/status");
    assert.ok(Date.now() - before >= 140);
    assert.equal(answer.json.status, "OK");
  });

  test("reset: the connection drops and nothing happens", async (t) => {
    const emu = await emulator(t, { faults: [{ kind: "reset", method: "POST" }] });
    await assert.rejects(call(emu, "POST", "/api/v1/vm", { vmid: SONOMA }), TypeError);
    assert.equal(emu.instances().length, 0);
    assert.equal(emu.requests[0]?.fault, "reset");
  });

  test("reset-after-handling: the connection drops but the instance was started", async (t) => {
    const emu = await emulator(t, {
      faults: [{ kind: "reset-after-handling", method: "POST", path: "/api/v1/vm" }],
    });
    await assert.rejects(
      call(emu, "POST", "/api/v1/vm", { vmid: SONOMA, external_id: "build-5" }),
      TypeError,
    );
    assert.equal(emu.liveInstances(), 1);
    assert.equal(emu.instances()[0]?.external_id, "build-5");
  });

  test("instance-error: only the instance with the matching external_id fails", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      faults: [{ kind: "instance-error", externalId: "build-13", message: 'Unexpected VM state: "stopped"' }],
    });
    const healthy = await startOne(emu, { vmid: SONOMA, external_id: "build-12" });
    const doomed = await startOne(emu, { vmid: SONOMA, external_id: "build-13" });
    assert.equal((await observe(emu, healthy, hasState("Started"))).at(-1)?.instance_state, "Started");
    const failed = (await observe(emu, doomed, hasState("Error"))).at(-1);
    assert.equal(failed?.message, 'Unexpected VM state: "stopped"');
    assert.ok(failed?.vminfo, "errored instances keep their vminfo (controller 1.49)");
  });

  test("stuck-node: terminated instances keep holding the node's slots", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      seed: oneSlotSeed(await defaultSeed()),
      faults: [{ kind: "stuck-node", nodeId: STUDIO }],
    });
    const first = await startOne(emu, { vmid: SONOMA });
    await observe(emu, first, hasState("Started"));
    await terminate(emu, first);
    await observe(emu, first, hasState("Terminated"));
    const second = await startOne(emu, { vmid: SONOMA });
    await sleep(40);
    assert.equal((await getInstance(emu, second)).instance_state, "Scheduling");
    const node = await envelope<Array<{ vm_count: number }>>(emu, "GET", "/api/v1/node");
    assert.equal(node.json.body?.[0]?.vm_count, 1);
  });

  test("stuck-scheduling: the matching instance never leaves Scheduling", async (t) => {
    const emu = await emulator(t, {
      timing: INSTANT,
      faults: [{ kind: "stuck-scheduling", externalId: "stuck" }],
    });
    const stuck = await startOne(emu, { vmid: SONOMA, external_id: "stuck" });
    const free = await startOne(emu, { vmid: SONOMA, external_id: "free" });
    await observe(emu, free, hasState("Started"));
    await sleep(40);
    assert.equal((await getInstance(emu, stuck)).instance_state, "Scheduling");
    await terminate(emu, stuck);
    await observe(emu, stuck, hasState("Terminating"));
  });
});

describe("admin endpoints and the request log", { concurrency: true }, () => {
  test("/_emulator/faults adds, lists and clears rules; a bad rule is a 400", async (t) => {
    const emu = await emulator(t);
    const added = await call(emu, "POST", "/_emulator/faults", { kind: "status", status: 503, always: true });
    assert.equal(added.status, 200);
    assert.deepEqual(JSON.parse(added.text), [{ kind: "status", status: 503, always: true, times: null }]);
    assert.equal((await call(emu, "GET", "/api/v1/status")).status, 503);
    assert.equal((await call(emu, "GET", "/api/v1/status")).status, 503);
    assert.equal((await call(emu, "DELETE", "/_emulator/faults")).status, 200);
    assert.equal((await call(emu, "GET", "/api/v1/status")).status, 200);
    const bad = await call(emu, "POST", "/_emulator/faults", { kind: "meteor" });
    assert.equal(bad.status, 400);
    assert.match((JSON.parse(bad.text) as { error: string }).error, /unknown fault kind "meteor"/);
    assert.deepEqual(JSON.parse((await call(emu, "GET", "/_emulator/faults")).text), []);
  });

  test("the request log holds method, path, query, headers and parsed body, without admin requests", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const id = await startOne(emu, { vmid: SONOMA, external_id: "build-3" });
    await getInstance(emu, id);
    await terminate(emu, id);
    await call(emu, "POST", "/api/v1/vm", "not json");
    await call(emu, "GET", "/_emulator/instances");
    const log = emu.requests.map(({ method, path, query, body }) => ({ method, path, query, body }));
    assert.deepEqual(log, [
      { method: "POST", path: "/api/v1/vm", query: {}, body: { vmid: SONOMA, external_id: "build-3" } },
      { method: "GET", path: "/api/v1/vm", query: { id }, body: undefined },
      { method: "DELETE", path: "/api/v1/vm", query: {}, body: { id } },
      { method: "POST", path: "/api/v1/vm", query: {}, body: "not json" },
    ]);
    assert.equal(emu.requests[0]?.headers["content-type"], "application/json");
    assert.equal(typeof emu.requests[0]?.time, "number");
    const served = JSON.parse((await call(emu, "GET", "/_emulator/requests")).text) as unknown[];
    assert.equal(served.length, 4);
    await call(emu, "DELETE", "/_emulator/requests");
    assert.equal(emu.requests.length, 0);
  });

  test("/_emulator/instances shows what instances() shows", async (t) => {
    const emu = await emulator(t, { timing: INSTANT });
    const id = await startOne(emu, { vmid: SONOMA });
    await observe(emu, id, hasState("Started"));
    const served = JSON.parse((await call(emu, "GET", "/_emulator/instances")).text) as InstanceObject[];
    assert.deepEqual(served, emu.instances());
    assert.equal(served[0]?.instance_id, id);
  });

  test("close() stops the timeline and aborts running scripts", async () => {
    let signal: AbortSignal | undefined;
    const runner: ScriptRunner = (ctx) => {
      signal = ctx.signal;
      return new Promise(() => {});
    };
    const emu = await startControllerEmulator({ timing: INSTANT, scriptRunner: runner });
    const id = await startOne(emu, {
      vmid: SONOMA,
      startup_script: Buffer.from("sleep 600").toString("base64"),
      script_monitoring: true,
    });
    await waitUntil(() => signal !== undefined);
    await emu.close();
    assert.equal(signal?.aborted, true);
    assert.equal(emu.instances().find((view) => view.instance_id === id)?.instance_state, "Scheduling");
  });
});

test("the CLI serves the emulator until SIGTERM", async () => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "emulator/controller/main.ts", "--port", "0", "--timing", "fast"],
    { cwd: new URL("../..", import.meta.url), stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    let output = "";
    child.stdout.setEncoding("utf8");
    const url = await new Promise<string>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`exited early (${code}): ${output}`)));
      child.stdout.on("data", (chunk: string) => {
        output += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match?.[1]) resolve(match[1]);
      });
    });
    const status = (await (await fetch(`${url}/api/v1/status`)).json()) as Envelope<{ status: string }>;
    assert.equal(status.body?.status, "Running");
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});
