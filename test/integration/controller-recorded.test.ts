import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AnkaClient,
  ControllerFailError,
  classifyState,
  latestVersion,
  waitForInstance,
  InstanceFailedError,
} from "../../src/anka/index.ts";
import {
  OLDER_CONTROLLER_VERSION,
  startControllerEmulator,
  type ControllerEmulator,
  type ControllerEmulatorOptions,
} from "../../emulator/controller/index.ts";
import {
  recordedAnswer,
  recordedText,
  recording,
  recordings,
  replayServer,
} from "../helpers/controller-recordings.ts";
import { ROOT_TOKEN } from "../helpers/secrets.ts";

/**
 * Contract tests against every recorded controller answer (test/fixtures/controller): first what
 * the real client makes of each, served over HTTP with its recorded status, headers and bytes;
 * then whether the emulator answers the same requests with the same shapes. Where the emulator
 * differs on purpose, the difference is named in the test.
 */

const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const ANY_ID = "7b3421d9-764c-481c-5e74-8cbd741d3930";

type Replay = Awaited<ReturnType<typeof replayServer>>;
type ClientCheck = (client: AnkaClient, server: Replay) => Promise<void>;

async function rejectsWithFail(promise: Promise<unknown>, httpStatus: number, message: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ControllerFailError, String(error));
    assert.equal(error.httpStatus, httpStatus);
    assert.equal(error.controllerMessage, message);
    assert.match(error.message, new RegExp(message));
    return true;
  });
}

/** What the client must make of each recording; every file in index.json has one. */
const CLIENT_CHECKS: Record<string, ClientCheck | "emulator only"> = {
  "start-vm-ok.json": async (client) => {
    assert.deepEqual(await client.startInstances({ templateId: "t" }), [
      "b7fed205-ceab-4938-60cd-1369a3cc0d4f",
    ]);
  },
  "start-vm-error.json": (client) =>
    rejectsWithFail(client.startInstances({ templateId: "t" }), 400, "VM not in the registry"),
  "list-vm-single-state-scheduling.json": async (client) => {
    const instance = await client.getInstance(ANY_ID);
    assert.equal(instance.state, "Scheduling");
    assert.equal(instance.vminfo, undefined);
    assert.equal(instance.nodeId, undefined);
    assert.equal(instance.externalId, "f3015250-99fb-415b-a8ee-5c16f3e58514");
    assert.equal(classifyState(instance.state), "pending");
  },
  "list-vm-single-state-pulling.json": async (client) => {
    const instance = await client.getInstance(ANY_ID);
    assert.equal(instance.state, "Pulling");
    assert.equal(instance.progress, 0.42);
    assert.equal(classifyState(instance.state), "pending");
  },
  "list-vm-single-startup-script-error.json": async (client) => {
    const instance = await client.getInstance(ANY_ID);
    assert.equal(instance.state, "Error");
    assert.equal(instance.progress, 1, "progress stays at 1 after the pull");
    assert.equal(instance.startupScript?.returnCode, 127);
    assert.equal(instance.vminfo?.ip, "192.168.64.3");
    await assert.rejects(
      waitForInstance(client, ANY_ID, { timeoutMs: 1000, pollIntervalMs: 1 }),
      (error: unknown) =>
        error instanceof InstanceFailedError &&
        /exited with code 127[^]*command not found/.test(error.message),
    );
  },
  "list-vm-single-state-terminated.json": async (client) => {
    const instance = await client.getInstance(ANY_ID);
    assert.equal(instance.state, "Terminated");
    assert.equal(instance.message, "instance terminated by controller");
    assert.equal(classifyState(instance.state), "failed");
  },
  "list-vm-multiple.json": async (client) => {
    const [instance, ...rest] = await client.listInstances();
    assert.equal(rest.length, 0);
    assert.equal(instance?.id, "cd1937fd-68e7-4d5b-6b75-5ac3260b40f7");
    assert.equal(instance?.name, undefined, "name: null is absent");
    assert.equal(instance?.state, "Started");
    assert.equal(instance?.nodeId, "f9673afe-dc07-4683-b625-2bbf9f35f566");
    assert.equal(instance?.vminfo?.ip, "192.168.64.19");
    assert.deepEqual(instance?.vminfo?.portForwarding, [], "no port_forwarding key: no rules");
    assert.match(instance?.startupScript?.stdout ?? "", /√ Runner successfully added/);
  },
  "terminate-vm.json": async (client, server) => {
    await client.terminateInstance(ANY_ID);
    const sent = server.seen.at(-1);
    assert.equal(sent?.method, "DELETE");
    assert.deepEqual(JSON.parse(sent?.body ?? ""), { id: ANY_ID });
  },
  "docs-status-1.13.json": async (client) => {
    assert.deepEqual(await client.status(), {
      status: "Running",
      version: "1.13.0-24e848a5",
      registryAddress: "http://anka.registry:8089",
      registryStatus: "Running",
      license: "enterprise plus",
    });
  },
  "docs-status-unauthenticated.json": (client) =>
    rejectsWithFail(client.status(), 401, "Authentication Required"),
  "docs-status-1.25-uak.json": async (client) => {
    assert.equal((await client.status()).version, "1.25.0-b2a027a4");
  },
  "docs-status-1.7-certificate.json": async (client) => {
    assert.equal((await client.status()).registryAddress, "https://127.0.0.1:8089");
  },
  "docs-start-port-forwarding.json": async (client) => {
    assert.deepEqual(await client.startInstances({ templateId: "t" }), [
      "4eb107b9-2ce1-4d00-4f6b-d7b03c8b107e",
    ]);
  },
  "docs-start-disk.json": async (client) => {
    assert.deepEqual(await client.startInstances({ templateId: "t" }), [
      "d90c2339-4d9c-42ad-6c8a-81469e7eadbe",
    ]);
  },
  "docs-ok-without-body.json": async (client, server) => {
    await client.updateInstance(ANY_ID, { name: "renamed" });
    assert.equal(server.seen.at(-1)?.method, "PUT");
  },
  "docs-list-vm-1.41.json": async (client) => {
    const [instance] = await client.listInstances();
    assert.equal(instance?.externalId, "TEST123");
    assert.equal(instance?.name, undefined);
    assert.equal(instance?.tag, "vanilla+port-forward-22+brew-git");
    assert.deepEqual(instance?.vminfo?.portForwarding, [{ guestPort: 22, hostPort: 10001, protocol: "tcp" }]);
    assert.equal(classifyState(instance?.state ?? ""), "ready");
  },
  "docs-list-item-1.24-script-monitoring.json": async (client) => {
    const [instance] = await client.listInstances();
    assert.equal(instance?.externalId, undefined, "external_id: null is absent");
    assert.equal(instance?.tag, undefined, "this sample has no tag");
    assert.equal(instance?.vminfo?.portForwarding[0]?.hostPort, 10000, "rule_name is not needed");
    assert.equal(instance?.startupScript?.stdout, "123\n");
    assert.doesNotMatch(JSON.stringify(instance), /vnc|REDACTED/, "the VNC password is not kept");
  },
  "docs-instance-1.44-started-message.json": async (client) => {
    const instance = await waitForInstance(client, ANY_ID, { timeoutMs: 1000, pollIntervalMs: 1 });
    assert.equal(instance.state, "Started", "a message on a Started instance is not a failure");
    assert.equal(instance.message, 'Unexpected VM state: "stopped"');
    assert.deepEqual(
      instance.vminfo?.portForwarding.map((rule) => [rule.guestPort, rule.hostPort]),
      [
        [22, 22],
        [5900, 5900],
      ],
    );
  },
  "docs-instance-2019.json": async (client) => {
    const instance = await client.getInstance(ANY_ID);
    assert.equal(instance.id, ANY_ID, "no instance_id in the answer: the id asked for");
    assert.equal(instance.templateId, "a29dcb72-f663-469d-9d83-8c4641b2e5dd");
    assert.deepEqual(instance.vminfo?.portForwarding, [{ guestPort: 22, hostPort: 10001, protocol: "tcp" }]);
  },
  "docs-nodes-1.43.json": "emulator only",
  "docs-group.json": async (client) => {
    assert.deepEqual(await client.listGroups(), [
      {
        id: "89a66167-62b1-42bb-5a0b-ff667906b8f5",
        name: "GreateNodes",
        description: "best of my macs",
        fallbackGroupId: undefined,
      },
    ]);
  },
  "docs-registry-list-1.43.json": async (client) => {
    assert.deepEqual(await client.listTemplates(), [
      {
        id: "0222a870-0b8c-44b3-989c-775f5cd0785f",
        name: "14.5-arm64-jre17.48.15",
        arch: "arm64",
        size: 28046262272,
      },
    ]);
  },
  "docs-registry-template-1.43.json": async (client) => {
    const template = await client.getTemplate("d937553f-ab5f-405a-8d91-198f5001794e");
    assert.equal(template.name, "14.5-arm64-teamcity");
    assert.equal(latestVersion(template)?.tag, "v1");
  },
  "docs-ok-saved.json": async (client) => {
    await client.terminateInstance(ANY_ID); // "Saved" on an OK answer is not an error
  },
};

describe("recorded controller answers through the real client", () => {
  let server: Replay;
  let client: AnkaClient;
  before(async () => {
    server = await replayServer();
    client = new AnkaClient({ url: server.url, retry: NO_RETRY });
  });
  after(async () => {
    client.close();
    await server.close();
  });

  test("every recording is valid JSON, listed once, and has a check", () => {
    assert.deepEqual(Object.keys(CLIENT_CHECKS).sort(), recordings.map((entry) => entry.file).sort());
    for (const entry of recordings) assert.doesNotThrow(() => JSON.parse(recordedAnswer(entry)), entry.file);
  });

  for (const entry of recordings) {
    const check = CLIENT_CHECKS[entry.file];
    if (typeof check !== "function") continue;
    test(`${entry.file}: ${entry.request} (HTTP ${entry.status})`, async () => {
      server.serve(entry);
      await check(client, server);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The emulator against the same recordings.

/** The JSON type skeleton of a value: keys and value types, not values. */
function shapeOf(value: unknown): unknown {
  if (value === null) return "null";
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])];
  if (typeof value === "object")
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, shapeOf((value as Record<string, unknown>)[key])]),
    );
  return typeof value;
}

function keyDifference(emulated: object, recorded: object) {
  const mine = new Set(Object.keys(emulated));
  const theirs = new Set(Object.keys(recorded));
  return {
    onlyEmulator: [...mine].filter((key) => !theirs.has(key)).sort(),
    onlyRecorded: [...theirs].filter((key) => !mine.has(key)).sort(),
  };
}

function pick<T extends object>(value: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([key]) => keys.includes(key))) as Partial<T>;
}

const recordedJson = (file: string) => JSON.parse(recordedAnswer(recording(file))) as Envelope;

interface Envelope {
  status: string;
  message: string;
  body?: unknown;
}
type Json = Record<string, unknown>;

async function ask(emu: ControllerEmulator, method: string, path: string, body?: unknown, headers = {}) {
  const response = await fetch(`${emu.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Envelope };
}

async function until(emu: ControllerEmulator, id: string, done: (vm: Json) => boolean, timeoutMs = 5000) {
  const seen: Json[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await ask(emu, "GET", `/api/v1/vm?id=${id}`);
    const vm = json.body as Json | undefined;
    if (vm && JSON.stringify(seen.at(-1)) !== JSON.stringify(vm)) seen.push(vm);
    if (vm && done(vm)) return seen;
    if (json.status !== "OK" || Date.now() > deadline)
      assert.fail(
        `gave up; states seen: ${seen.map((v) => v.instance_state).join(" > ")}; last answer ${JSON.stringify(json)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
}

const state = (name: string) => (vm: Json) => vm.instance_state === name;
const SONOMA = "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c"; // cached on the default seed's nodes
const SEQUOIA = "c7a2f1d0-5b8e-4c39-9e61-0d4b7a3f8e12"; // not cached: pulled first

async function startOne(emu: ControllerEmulator, request: Json): Promise<string> {
  const { json } = await ask(emu, "POST", "/api/v1/vm", request);
  assert.equal(json.status, "OK", JSON.stringify(json));
  return (json.body as string[])[0] as string;
}

/**
 * An instance whose monitored startup script exited 127 after a pull, its VM kept alive (fail
 * handler 1), as GitHub Actions' integration starts them in the recording.
 */
async function scriptErrorInstance(options: ControllerEmulatorOptions = {}): Promise<Json> {
  const stderr = "sh: line 1: x: command not found\n";
  const emu = await emulator({
    ...options,
    scriptRunner: async () => ({ return_code: 127, did_timeout: false, stdout: "", stderr }),
  });
  const id = await startOne(emu, {
    vmid: SEQUOIA,
    external_id: "f3015250",
    startup_script: Buffer.from("x").toString("base64"),
    script_monitoring: true,
    script_fail_handler: 1,
  });
  return (await until(emu, id, state("Error"))).at(-1) as Json;
}

const emulators: ControllerEmulator[] = [];
async function emulator(options: ControllerEmulatorOptions = {}) {
  const emu = await startControllerEmulator({
    timing: { schedulingMs: 5, pullMs: 60, pullSteps: 3, bootMs: 10, ipDelayMs: 5, terminatingMs: 5 },
    ...options,
  });
  emulators.push(emu);
  return emu;
}

describe("the emulator answers like the recordings", { concurrency: true }, () => {
  after(async () => {
    await Promise.all(emulators.map((emu) => emu.close()));
  });

  test("start: the same envelope; unknown template: the same bytes' JSON and HTTP 400", async () => {
    const emu = await emulator();
    const ok = await ask(emu, "POST", "/api/v1/vm", { vmid: SONOMA });
    assert.deepEqual(shapeOf(ok.json), shapeOf(recordedJson("start-vm-ok.json")));
    const refused = await ask(emu, "POST", "/api/v1/vm", { vmid: "4c641deb-9822-4718-a757-5775799d9bc8" });
    assert.equal(refused.status, recording("start-vm-error.json").status);
    assert.deepEqual(refused.json, recordedJson("start-vm-error.json"));
  });

  test("terminate and update: OK without a body key, as recorded", async () => {
    const emu = await emulator();
    const id = await startOne(emu, { vmid: SONOMA });
    assert.deepEqual(
      (await ask(emu, "PUT", `/api/v1/vm?id=${id}`, { name: "x" })).json,
      recordedJson("docs-ok-without-body.json"),
    );
    assert.deepEqual(
      (await ask(emu, "DELETE", "/api/v1/vm", { id })).json,
      recordedJson("terminate-vm.json"),
    );
  });

  test("Scheduling and Pulling: the recorded keys and types", async () => {
    const emu = await emulator({ timing: { schedulingMs: 300, pullMs: 3000, pullSteps: 3 } });
    const id = await startOne(emu, { vmid: SEQUOIA, external_id: "f3015250" });
    const [scheduling] = await until(emu, id, state("Scheduling"));
    const recordedScheduling = recordedJson("list-vm-single-state-scheduling.json").body as Json;
    assert.deepEqual(shapeOf(scheduling), shapeOf(recordedScheduling));
    const pulling = (await until(emu, id, state("Pulling"))).at(-1) as Json;
    assert.deepEqual(shapeOf(pulling), shapeOf(recordedJson("list-vm-single-state-pulling.json").body));
  });

  test("script error: the recorded instance keys, exit code and message; vminfo as 1.41+ shows it", async () => {
    const failed = await scriptErrorInstance();
    const recorded = recordedJson("list-vm-single-startup-script-error.json").body as Json;
    assert.deepEqual(keyDifference(failed, recorded), { onlyEmulator: [], onlyRecorded: [] });
    assert.equal(failed.message, recorded.message);
    assert.deepEqual(shapeOf(failed.startup_script), shapeOf(recorded.startup_script));
    // Named difference: the 2022 recording's vminfo predates port_forwarding, start_date and timestamp (1.41+ samples).
    assert.deepEqual(keyDifference(failed.vminfo as Json, recorded.vminfo as Json), {
      onlyEmulator: ["port_forwarding", "start_date", "timestamp"],
      onlyRecorded: [],
    });
    // Named difference by version: progress goes back to 0 once pulled on the 1.50 profile; the 2022 recording keeps 1.
    assert.equal(failed.progress, 0);
  });

  test("Terminated: the recorded keys and message", async () => {
    const emu = await emulator();
    const id = await startOne(emu, { vmid: SONOMA, external_id: "f3015250" });
    await until(emu, id, state("Started"));
    await ask(emu, "DELETE", "/api/v1/vm", { id });
    const terminated = (await until(emu, id, state("Terminated"))).at(-1) as Json;
    const recorded = recordedJson("list-vm-single-state-terminated.json").body as Json;
    assert.deepEqual(shapeOf(terminated), shapeOf(recorded));
    assert.equal(terminated.message, recorded.message);
  });

  test("list: the recorded wrapper; a Started vm with the keys of the 2022 and 1.41 samples", async () => {
    const emu = await emulator();
    const id = await startOne(emu, {
      vmid: SONOMA,
      external_id: "0651d321",
      startup_script: Buffer.from("true").toString("base64"),
      script_monitoring: true,
    });
    await until(emu, id, (vm) => vm.instance_state === "Started" && (vm.vminfo as Json).ip !== "");
    const [entry] = (await ask(emu, "GET", "/api/v1/vm")).json.body as Json[];
    const [recorded] = recordedJson("list-vm-multiple.json").body as Json[];
    assert.deepEqual(
      shapeOf(pick(entry as Json, ["external_id", "instance_id", "name"])),
      shapeOf(pick(recorded as Json, ["external_id", "instance_id", "name"])),
    );
    const vm = (entry as Json).vm as Json;
    const recordedVm = (recorded as Json).vm as Json;
    assert.deepEqual(keyDifference(vm, recordedVm), { onlyEmulator: [], onlyRecorded: [] });
    const [sample141] = recordedJson("docs-list-vm-1.41.json").body as Json[];
    const vminfo141 = ((sample141 as Json).vm as Json).vminfo as Json;
    // Named differences: no access_date (only the 1.41 sample has it); vnc_connection_string and
    // cpu fields as the 2022 recording and the 1.24 sample show them.
    assert.deepEqual(keyDifference(vm.vminfo as Json, vminfo141), {
      onlyEmulator: ["vnc_connection_string"],
      onlyRecorded: ["access_date"],
    });
    const shared = Object.keys(vminfo141).filter((key) => key !== "access_date");
    assert.deepEqual(shapeOf(pick(vm.vminfo as Json, shared)), shapeOf(pick(vminfo141, shared)));
  });

  test("status: the recorded body and headers; 401 without credentials, as recorded", async () => {
    const emu = await emulator({ auth: { rootToken: ROOT_TOKEN } });
    const refused = await ask(emu, "GET", "/api/v1/status");
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("content-type"), "application/json");
    assert.deepEqual(refused.json, recordedJson("docs-status-unauthenticated.json"));
    const basic = `Basic ${Buffer.from(`root:${ROOT_TOKEN}`).toString("base64")}`;
    const ok = await ask(emu, "GET", "/api/v1/status", undefined, { authorization: basic });
    assert.equal(ok.headers.get("cache-control"), "no-store");
    assert.deepEqual(shapeOf(ok.json), shapeOf(recordedJson("docs-status-1.13.json")));
    assert.match((ok.json.body as Json).version as string, /^1\.50\.1-[0-9a-f]{8}$/);
  });

  test("groups, registry and nodes: the recorded keys and types, named differences", async () => {
    const emu = await emulator();
    const [group] = (await ask(emu, "GET", "/api/v1/group")).json.body as Json[];
    assert.deepEqual(shapeOf(group), shapeOf((recordedJson("docs-group.json").body as Json[])[0]));

    const [summary] = (await ask(emu, "GET", "/api/v1/registry/vm")).json.body as Json[];
    assert.deepEqual(
      shapeOf(summary),
      shapeOf((recordedJson("docs-registry-list-1.43.json").body as Json[])[0]),
    );

    const detail = (await ask(emu, "GET", `/api/v1/registry/vm?id=${SONOMA}`)).json.body as Json;
    const recordedDetail = recordedJson("docs-registry-template-1.43.json").body as Json;
    assert.deepEqual(keyDifference(detail, recordedDetail), { onlyEmulator: [], onlyRecorded: [] });
    const version = (detail.versions as Json[])[0] as Json;
    const recordedVersion = (recordedDetail.versions as Json[])[0] as Json;
    assert.deepEqual(keyDifference(version, recordedVersion), { onlyEmulator: [], onlyRecorded: [] });

    const [node] = (await ask(emu, "GET", "/api/v1/node")).json.body as Json[];
    const [recordedNode] = recordedJson("docs-nodes-1.43.json").body as Json[];
    // Named differences: `groups` is documented on nodes but absent from this sample (its node has
    // no group); `vcpu_override`, `ram_override` belong to capacity_mode "resource", not emulated.
    assert.deepEqual(keyDifference(node as Json, recordedNode as Json), {
      onlyEmulator: ["groups"],
      onlyRecorded: ["ram_override", "vcpu_override"],
    });
    assert.equal(typeof (node as Json).timestamp, "number", "a node's timestamp is epoch seconds");
    assert.equal(typeof (node as Json).last_updated, "string");
  });
});

describe(
  `the ${OLDER_CONTROLLER_VERSION} profile against the older recordings`,
  { concurrency: true },
  () => {
    after(async () => {
      await Promise.all(emulators.map((emu) => emu.close()));
    });

    test("Started keeps the 1.44 sample's message; node ids are EC2 ids", async () => {
      const emu = await emulator({ controllerVersion: OLDER_CONTROLLER_VERSION });
      const id = await startOne(emu, { vmid: SONOMA });
      const started = (await until(emu, id, state("Started"))).at(-1) as Json;
      const sample = JSON.parse(recordedText("docs-instance-1.44-started-message.json")) as Json;
      assert.equal(started.message, sample.message);
      assert.match(started.node_id as string, /^i-[0-9a-f]{17}$/);
      assert.equal(typeof (started.vminfo as Json).timestamp, typeof (sample.vminfo as Json).timestamp);
    });

    test("a script error keeps progress 1 after the pull, as the 2022 recording", async () => {
      const failed = await scriptErrorInstance({ controllerVersion: OLDER_CONTROLLER_VERSION });
      const recorded = recordedJson("list-vm-single-startup-script-error.json").body as Json;
      assert.equal(failed.progress, recorded.progress);
      assert.equal((failed.vminfo as Json).status, (recorded.vminfo as Json).status, "the VM was kept alive");
    });
  },
);
