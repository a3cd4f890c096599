import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AnkaClient,
  ControllerFailError,
  ControllerResponseError,
  ControllerTimeoutError,
  InstanceFailedError,
  InstanceWaitTimeoutError,
  isNotFound,
  waitForInstance,
  type Instance,
} from "../../src/anka/index.ts";
import { startControllerEmulator, type ControllerEmulator } from "../../emulator/controller/index.ts";

/** The client against the controller emulator over real HTTP: every behaviour and every fault. */
const SONOMA = "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c";
const SEQUOIA = "c7a2f1d0-5b8e-4c39-9e61-0d4b7a3f8e12";
const RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const WAIT = { timeoutMs: 10_000, pollIntervalMs: 10 };

function clientFor(emulator: ControllerEmulator, timeoutMs = 2000): AnkaClient {
  return new AnkaClient({ url: emulator.url, retry: RETRY, timeoutMs });
}

describe("client against the controller emulator", () => {
  let emulator: ControllerEmulator;
  let client: AnkaClient;
  before(async () => {
    emulator = await startControllerEmulator();
    client = clientFor(emulator);
  });
  after(async () => {
    client.close();
    await emulator.close();
  });

  test("status, templates with versions, groups", async () => {
    const status = await client.status();
    assert.equal(status.status, "Running");
    assert.match(status.version ?? "", /^1\.\d+/);
    const templates = await client.listTemplates();
    assert.ok(templates.some((t) => t.id === SONOMA && t.name === "sonoma-14" && t.arch === "arm64"));
    const sonoma = await client.getTemplate(SONOMA);
    assert.deepEqual(
      sonoma.versions.map((v) => v.tag),
      ["base", "xcode-15", "xcode-15.4"],
    );
    const groups = await client.listGroups();
    assert.ok(groups.some((g) => g.name === "ios-builders"));
  });

  test("a whole life: Pulling with rising progress, back to Scheduling, Started with an IP, Terminated, gone", async () => {
    const id = await client.startInstance({
      templateId: SEQUOIA,
      tag: "xcode-16.2",
      externalId: "life-1",
      name: "anka-life-1",
      startupScript: "true",
      scriptMonitoring: true,
    });
    // Right after the request: queued, or already pulling on a slow machine (the waiter's first poll comes later).
    const seen: Instance[] = [await client.getInstance(id)];
    const started = await waitForInstance(client, id, {
      ...WAIT,
      pollIntervalMs: 5,
      onPoll: (i) => seen.push(i),
    });
    assert.equal(started.state, "Started");
    assert.equal(started.externalId, "life-1");
    // A monitored condition-0 script runs after the network is up, so Started has the IP.
    assert.match(started.vminfo?.ip ?? "", /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(started.startupScript?.returnCode, 0);
    const states = [...seen, started].map((i) => i.state).filter((s, n, all) => s !== all[n - 1]);
    // Controller >= 1.50: back to Scheduling after Pulling, until Started (reference §5).
    assert.deepEqual(
      states.slice(states.indexOf("Pulling")),
      ["Pulling", "Scheduling", "Started"],
      states.join(" "),
    );
    assert.ok(["Scheduling", "Pulling"].includes(states[0] ?? ""), states.join(" "));
    const progress = seen.filter((i) => i.state === "Pulling").map((i) => i.progress);
    assert.ok(
      progress.length >= 2 && progress.every((p, n) => n === 0 || p >= (progress[n - 1] as number)),
      `rising: ${progress}`,
    );
    assert.ok(
      seen
        .filter((i) => i.state === "Scheduling" || i.state === "Pulling")
        .every((i) => i.vminfo === undefined || i.state === "Scheduling"),
    );

    await client.terminateInstance(id);
    const terminating = await client.getInstance(id);
    assert.ok(["Terminating", "Terminated"].includes(terminating.state));
    // Terminating twice is fine.
    await client.terminateInstance(id);
    await until(async () => {
      try {
        await client.getInstance(id);
        return false;
      } catch (error) {
        return isNotFound(error);
      }
    });
  });

  test("an unmonitored start may be Started with an empty IP, which fills in later", async () => {
    const id = await client.startInstance({ templateId: SONOMA, tag: "base" });
    const started = await waitForInstance(client, id, WAIT);
    assert.equal(typeof started.vminfo?.ip, "string");
    await until(async () => ((await client.getInstance(id)).vminfo?.ip ?? "") !== "");
    await client.terminateInstance(id);
  });

  test("find by external_id and update name, external_id and metadata", async () => {
    const id = await client.startInstance({
      templateId: SONOMA,
      tag: "base",
      externalId: "find-me",
      metadata: { a: "1" },
    });
    const found = await client.findInstancesByExternalId("find-me");
    assert.deepEqual(
      found.map((i) => i.id),
      [id],
    );
    await client.updateInstance(id, { name: "renamed", externalId: "found-you", metadata: { b: 2 } });
    const updated = await client.getInstance(id);
    assert.equal(updated.name, "renamed");
    assert.equal(updated.externalId, "found-you");
    assert.equal(updated.metadata?.b, 2);
    assert.deepEqual(await client.findInstancesByExternalId("find-me"), []);
    await client.terminateInstance(id);
  });

  test("validation like the real controller", async () => {
    await assert.rejects(
      client.startInstance({ templateId: "00000000-0000-0000-0000-000000000000" }),
      (e: unknown) => {
        assert.ok(e instanceof ControllerFailError);
        assert.equal(e.controllerMessage, "VM not in the registry");
        assert.equal(e.httpStatus, 400);
        return true;
      },
    );
    await assert.rejects(client.startInstance({ templateId: SONOMA, tag: "no-such" }), /No such tag no-such/);
    await assert.rejects(
      client.startInstance({ templateId: SONOMA, priority: 10_001 }),
      (e: unknown) => e instanceof ControllerFailError && e.httpStatus === 400,
    );
    await assert.rejects(client.getInstance("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"), (e: unknown) =>
      isNotFound(e),
    );
    await assert.rejects(client.terminateInstance("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"), (e: unknown) =>
      isNotFound(e),
    );
    assert.equal(emulator.requests.filter((r) => r.method === "POST").length >= 3, true);
  });

  test("the start request on the wire: numbers as numbers, base64 script, DELETE with a JSON body", async () => {
    const id = await client.startInstance({
      templateId: SONOMA,
      tag: "base",
      priority: 7,
      vcpu: 2,
      vramMb: 4096,
      startupScript: "echo hi\n",
      scriptMonitoring: true,
    });
    const post = emulator.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm").at(-1);
    const body = post?.body as Record<string, unknown>;
    assert.equal(body.priority, 7);
    assert.equal(body.vcpu, 2);
    assert.equal(body.vram, 4096);
    assert.equal(body.startup_script, Buffer.from("echo hi\n").toString("base64"));
    await client.terminateInstance(id);
    const del = emulator.requests.filter((r) => r.method === "DELETE").at(-1);
    assert.deepEqual(del?.body, { id });
  });
});

describe("faults injected into the emulator", () => {
  let emulator: ControllerEmulator;
  let client: AnkaClient;
  before(async () => {
    emulator = await startControllerEmulator();
    client = clientFor(emulator, 300);
  });
  after(async () => {
    client.close();
    await emulator.close();
  });
  const countOf = (method: string, path: string) =>
    emulator.requests.filter((r) => r.method === method && r.path === path).length;

  test("a 5xx burst on GET is retried until it passes", async () => {
    emulator.addFault({ method: "GET", path: "/api/v1/status", kind: "status", status: 503, times: 2 });
    const before = countOf("GET", "/api/v1/status");
    assert.equal((await client.status()).status, "Running");
    assert.equal(countOf("GET", "/api/v1/status") - before, 3);
  });

  test("a proxy's HTML error page is retried, and reported with its code when it persists", async () => {
    emulator.addFault({
      method: "GET",
      path: "/api/v1/registry/vm",
      kind: "html",
      status: 502,
      times: RETRY.attempts,
    });
    await assert.rejects(
      client.listTemplates(),
      (e: unknown) =>
        e instanceof ControllerResponseError && e.httpStatus === 502 && /HTTP 502/.test(e.message),
    );
    assert.ok((await client.listTemplates()).length > 0);
  });

  test("malformed JSON and an empty body are clear errors", async () => {
    emulator.addFault({ method: "GET", path: "/api/v1/status", kind: "malformed" });
    await assert.rejects(client.status(), /not JSON.*HTTP 200/);
    emulator.addFault({ method: "GET", path: "/api/v1/status", kind: "empty" });
    await assert.rejects(client.status(), /empty body/);
  });

  test("an answer slower than the request timeout is a timeout, and the retry gets through", async () => {
    emulator.addFault({ method: "GET", path: "/api/v1/status", kind: "delay", delayMs: 600 });
    assert.equal((await client.status()).status, "Running");
    emulator.addFault({
      method: "GET",
      path: "/api/v1/status",
      kind: "delay",
      delayMs: 600,
      times: RETRY.attempts,
    });
    await assert.rejects(client.status(), (e: unknown) => e instanceof ControllerTimeoutError);
  });

  test("a dropped connection on GET is retried", async () => {
    emulator.addFault({ method: "GET", path: "/api/v1/group", kind: "reset", times: 2 });
    assert.ok((await client.listGroups()).length > 0);
  });

  test("start: the connection drops after the controller acted; exactly one instance exists", async () => {
    emulator.addFault({ method: "POST", path: "/api/v1/vm", kind: "reset-after-handling" });
    const posts = countOf("POST", "/api/v1/vm");
    const id = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: "ambiguous-1" });
    assert.equal(countOf("POST", "/api/v1/vm") - posts, 1, "the POST was not repeated");
    const mine = await client.findInstancesByExternalId("ambiguous-1");
    assert.deepEqual(
      mine.map((i) => i.id),
      [id],
    );
    await client.terminateInstance(id);
  });

  test("start: the connection drops before the controller acted; the retry creates exactly one", async () => {
    emulator.addFault({ method: "POST", path: "/api/v1/vm", kind: "reset" });
    const id = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: "ambiguous-2" });
    assert.equal((await client.findInstancesByExternalId("ambiguous-2")).length, 1);
    await client.terminateInstance(id);
  });

  test("start: a 5xx answer is looked up, then retried, never doubled", async () => {
    emulator.addFault({ method: "POST", path: "/api/v1/vm", kind: "status", status: 500 });
    const id = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: "ambiguous-3" });
    assert.deepEqual(
      (await client.findInstancesByExternalId("ambiguous-3")).map((i) => i.id),
      [id],
    );
    await client.terminateInstance(id);
  });

  test("start: an answer slower than the timeout; the client waits for it to show up instead of asking twice", async () => {
    // The controller acts 600 ms after the request; the client gives up at 400 ms, then looks for
    // the start token for up to another 400 ms before it would send a second request.
    const slowClient = clientFor(emulator, 400);
    emulator.addFault({ method: "POST", path: "/api/v1/vm", kind: "delay", delayMs: 600 });
    const posts = countOf("POST", "/api/v1/vm");
    const receipt = await slowClient.startInstancesWithReceipt({
      templateId: SONOMA,
      tag: "base",
      externalId: "ambiguous-4",
      count: 1,
    });
    assert.equal(countOf("POST", "/api/v1/vm") - posts, 1, "the POST was not repeated");
    assert.equal(receipt.mayHaveDuplicates, false);
    assert.deepEqual(
      (await slowClient.findInstancesByExternalId("ambiguous-4")).map((i) => i.id),
      receipt.ids,
    );
    await slowClient.terminateInstance(receipt.ids[0] as string);
    slowClient.close();
  });

  test("an instance that goes to Error fails the wait at once with the controller's message", async () => {
    emulator.addFault({
      kind: "instance-error",
      externalId: "doomed",
      message: 'Unexpected VM state: "stopped"',
    });
    const id = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: "doomed" });
    await assert.rejects(
      waitForInstance(client, id, WAIT),
      (e: unknown) =>
        e instanceof InstanceFailedError && /went to Error: Unexpected VM state/.test(e.message),
    );
    await client.terminateInstance(id);
  });

  test("an instance stuck in Scheduling times out, and the message says why", async () => {
    emulator.addFault({ kind: "stuck-scheduling", externalId: "stuck" });
    const id = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: "stuck" });
    await assert.rejects(
      waitForInstance(client, id, { timeoutMs: 300, pollIntervalMs: 20 }),
      (e: unknown) => e instanceof InstanceWaitTimeoutError && /waiting for a free slot/.test(e.message),
    );
    await client.terminateInstance(id);
  });
});

describe("capacity, the startup script and not-found as HTTP 200", () => {
  test("requests beyond capacity wait in Scheduling and start as slots free", async () => {
    const emulator = await startControllerEmulator();
    const client = clientFor(emulator);
    try {
      // The seed has two nodes of two slots.
      const ids = await Promise.all(
        [1, 2, 3, 4].map((n) =>
          client.startInstance({ templateId: SONOMA, tag: "base", externalId: `cap-${n}` }),
        ),
      );
      await Promise.all(ids.map((id) => waitForInstance(client, id, WAIT)));
      const fifth = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: "cap-5" });
      await assert.rejects(
        waitForInstance(client, fifth, { timeoutMs: 300, pollIntervalMs: 20 }),
        InstanceWaitTimeoutError,
      );
      await client.terminateInstance(ids[0] as string);
      assert.equal((await waitForInstance(client, fifth, WAIT)).state, "Started");
    } finally {
      client.close();
      await emulator.close();
    }
  });

  test("a monitored startup script that fails puts the instance in Error; the waiter shows its stderr", async () => {
    const emulator = await startControllerEmulator({
      scriptRunner: async ({ script }) => ({
        return_code: 3,
        did_timeout: false,
        stdout: "",
        stderr: `ran: ${script.trim()}\nconfig.sh: pool not found\n`,
      }),
    });
    const client = clientFor(emulator);
    try {
      const id = await client.startInstance({
        templateId: SONOMA,
        tag: "base",
        startupScript: "exit 3",
        scriptMonitoring: true,
      });
      await assert.rejects(waitForInstance(client, id, WAIT), (e: unknown) => {
        assert.ok(e instanceof InstanceFailedError);
        assert.equal(e.instance.startupScript?.returnCode, 3);
        assert.match(
          e.message,
          /exited with code 3\. Its last output:\nran: exit 3\nconfig.sh: pool not found/,
        );
        return true;
      });
    } finally {
      client.close();
      await emulator.close();
    }
  });

  test("a controller that answers Not found with HTTP 200 is understood the same", async () => {
    const emulator = await startControllerEmulator({ notFoundHttpStatus: 200 });
    const client = clientFor(emulator);
    try {
      await assert.rejects(
        client.getInstance("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        (e: unknown) => isNotFound(e) && (e as ControllerFailError).httpStatus === 200,
      );
    } finally {
      client.close();
      await emulator.close();
    }
  });
});

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
