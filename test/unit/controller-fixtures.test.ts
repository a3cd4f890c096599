import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { AnkaClient, ControllerFailError, classifyState } from "../../src/anka/index.ts";
import { scriptedServer, type Reply } from "../helpers/scripted-server.ts";

/** Every answer shaped like a recorded one goes through the real client over HTTP. */
const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/controller/${name}`, import.meta.url), "utf8"));

describe("controller answers shaped like recorded ones", () => {
  let next: Reply = { json: {} };
  let server: Awaited<ReturnType<typeof scriptedServer>>;
  let client: AnkaClient;
  before(async () => {
    server = await scriptedServer(() => next);
    client = new AnkaClient({ url: server.url, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } });
  });
  after(async () => {
    client.close();
    await server.close();
  });
  const answer = (name: string, status = 200) => {
    next = { status, json: fixture(name) };
  };

  test("start: body is an array of instance ids", async () => {
    answer("start-ok.json");
    assert.deepEqual(await client.startInstances({ templateId: "t" }), [
      "a1c2e3f4-0b1d-4e2f-6a7b-8c9d0e1f2a3b",
    ]);
  });

  test("start with an unknown template: FAIL without body carries the controller's message", async () => {
    answer("start-unknown-template.json", 400);
    await assert.rejects(client.startInstance({ templateId: "nope" }), (error: unknown) => {
      assert.ok(error instanceof ControllerFailError);
      assert.equal(error.controllerMessage, "VM not in the registry");
      assert.equal(error.httpStatus, 400);
      assert.match(error.message, /VM not in the registry/);
      return true;
    });
  });

  test("Scheduling: no vminfo, no node, still pending", async () => {
    answer("instance-scheduling.json");
    const instance = await client.getInstance("5e0f1a2b-3c4d-4e5f-7a8b-9c0d1e2f3a4b");
    assert.equal(instance.state, "Scheduling");
    assert.equal(instance.vminfo, undefined);
    assert.equal(instance.nodeId, undefined);
    assert.equal(instance.externalId, "build-9001");
    assert.equal(instance.arch, "arm64");
    assert.equal(classifyState(instance.state), "pending");
  });

  test("Pulling: fractional progress", async () => {
    answer("instance-pulling.json");
    const instance = await client.getInstance("5e0f1a2b-3c4d-4e5f-7a8b-9c0d1e2f3a4b");
    assert.equal(instance.state, "Pulling");
    assert.equal(instance.progress, 0.37);
    assert.equal(classifyState(instance.state), "pending");
  });

  test("Error after a monitored startup script: exit code, stderr, vminfo kept", async () => {
    answer("instance-script-error.json");
    const instance = await client.getInstance("5e0f1a2b-3c4d-4e5f-7a8b-9c0d1e2f3a4b");
    assert.equal(instance.state, "Error");
    assert.equal(instance.message, "startup script exit code 127");
    assert.deepEqual(instance.startupScript, {
      returnCode: 127,
      didTimeout: false,
      stdout: "",
      stderr: "sh: line 3: ./config.sh: command not found\n",
      errors: [],
    });
    assert.equal(instance.vminfo?.ip, "192.168.64.7");
    assert.equal(instance.vminfo?.hostIp, "10.20.30.40");
    assert.equal(instance.nodeId, "dead0001-beef-4000-8000-000000000001");
    assert.equal(classifyState(instance.state), "failed");
  });

  test("Terminated: failed, with its message", async () => {
    answer("instance-terminated.json");
    const instance = await client.getInstance("5e0f1a2b-3c4d-4e5f-7a8b-9c0d1e2f3a4b");
    assert.equal(instance.state, "Terminated");
    assert.equal(instance.message, "instance terminated by controller");
    assert.equal(classifyState(instance.state), "failed");
  });

  test("list: wrappers with null name, Started with a script result", async () => {
    answer("instance-list.json");
    const [instance, ...rest] = await client.listInstances();
    assert.equal(rest.length, 0);
    assert.equal(instance?.id, "77aa88bb-99cc-4ddd-6eee-ffff00001111");
    assert.equal(instance?.name, undefined);
    assert.equal(instance?.externalId, "build-9002");
    assert.equal(instance?.state, "Started");
    assert.equal(instance?.vminfo?.ip, "192.168.64.9");
    assert.equal(instance?.startupScript?.returnCode, 0);
    assert.equal(classifyState(instance?.state ?? ""), "ready");
  });

  test("terminate: OK envelope without body, DELETE carries the id as a JSON body", async () => {
    answer("terminate.json");
    await client.terminateInstance("77aa88bb-99cc-4ddd-6eee-ffff00001111");
    const last = server.seen.at(-1);
    assert.equal(last?.method, "DELETE");
    assert.equal(last?.url, "/api/v1/vm");
    assert.equal(last?.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(last?.body ?? ""), { id: "77aa88bb-99cc-4ddd-6eee-ffff00001111" });
  });
});
