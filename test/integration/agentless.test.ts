import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  startControllerEmulator,
  loadDefaultSeed,
  type ControllerEmulator,
} from "../../emulator/controller/index.ts";
import { renderBuiltInStartupScript, agentNameFor } from "../../src/bootstrap/index.ts";
import { encodeStartupScript } from "../../src/anka/client.ts";
import {
  AGENT_METADATA_KEY,
  CREATED_BY_METADATA_KEY,
  CREATED_BY_VALUE,
  POOL_METADATA_KEY,
} from "../../src/core/settings.ts";
import {
  runBinding,
  runDataSource,
  runServerTask,
  sendHttp,
  type EndpointFixture,
  type EndpointType,
  type Send,
  type SentRequest,
  type ServerTaskRun,
  type TaskJson,
} from "../helpers/azdo-templates.ts";
import { LONG_PAT, PAT, READ_ONLY_PAT, ROOT_TOKEN, UAK_ID, uakPrivateKeyPem } from "../helpers/secrets.ts";
import { POOL, startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * What Azure DevOps itself does with this extension, played against the emulators over real HTTP
 * by test/helpers/azdo-templates.ts: Verify and the picklists (the endpoint type's data sources
 * and the tasks' bindings), and the agentless tasks' request chains.
 */
const read = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as unknown;
const manifest = read("../../vss-extension.json") as {
  contributions: { type: string; properties: unknown }[];
};
const endpointType = manifest.contributions.find((c) => c.type === "ms.vss-endpoint.service-endpoint-type")
  ?.properties as EndpointType;
const startTask = read("../../src/tasks/AnkaStartInstanceV1/task.json") as TaskJson;
const startServer = read("../../src/tasks/AnkaStartInstanceServerV1/task.json") as TaskJson;
const terminateServer = read("../../src/tasks/AnkaTerminateInstanceServerV1/task.json") as TaskJson;
const seed = loadDefaultSeed();

function endpoint(url: string, scheme: string, parameters: Record<string, string> = {}): EndpointFixture {
  return {
    id: "3f0c9a57-5d0b-4a44-9b2e-0a1b2c3d4e5f",
    url,
    scheme,
    parameters: { azureDevOpsToken: PAT, ...parameters },
    data: { agentPool: POOL },
  };
}

describe("Verify and the picklists, as Azure DevOps calls them", () => {
  let open: ControllerEmulator;
  let secured: ControllerEmulator;
  before(async () => {
    open = await startControllerEmulator();
    secured = await startControllerEmulator({ auth: { rootToken: ROOT_TOKEN } });
  });
  after(async () => {
    await open.close();
    await secured.close();
  });

  const verify = (target: EndpointFixture) =>
    runDataSource({ type: endpointType, endpoint: target, dataSourceName: "TestConnection" });

  test("Verify passes on a controller without authentication, and on one with a root token", async () => {
    const none = await verify(endpoint(open.url, "None"));
    assert.equal(none.ok, true);
    assert.equal(none.request.url, `${open.url}/api/v1/status`);
    assert.equal(none.request.headers.Authorization, undefined);
    assert.deepEqual(none.selected, ["Running"]);

    const basic = await verify(
      endpoint(secured.url, "UsernamePassword", { username: "root", password: ROOT_TOKEN }),
    );
    assert.equal(basic.ok, true, "Azure DevOps builds the Basic header of the basic scheme itself");
  });

  test("Verify fails on a wrong token, with no authentication, and always for UAK (no secret sent)", async () => {
    const wrong = await verify(
      endpoint(secured.url, "UsernamePassword", { username: "root", password: "nope-nope-nope" }),
    );
    assert.deepEqual([wrong.ok, wrong.status], [false, 401]);
    const none = await verify(endpoint(secured.url, "None"));
    assert.deepEqual([none.ok, none.status], [false, 401]);
    const uak = await verify(endpoint(secured.url, "Token", { uakId: UAK_ID, apitoken: uakPrivateKeyPem() }));
    assert.deepEqual([uak.ok, uak.status], [false, 401]);
    const sent = JSON.stringify(uak.request.headers);
    assert.ok(
      !sent.includes("PRIVATE KEY") && !sent.includes(uakPrivateKeyPem().split("\n")[1] as string),
      "the UAK key never leaves",
    );
  });

  test("a controller URL with a trailing slash breaks Verify (documented in the troubleshooting)", async () => {
    const slash = await verify(endpoint(`${open.url}/`, "None"));
    assert.equal(slash.request.url, `${open.url}//api/v1/status`);
    assert.equal(slash.ok, false);
  });

  test("the template picklist offers every template: UUID as value, name (arch, UUID) shown", async () => {
    const result = await runBinding({
      task: startTask,
      target: "template",
      inputs: {},
      type: endpointType,
      endpoint: endpoint(open.url, "None"),
    });
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.items,
      seed.templates.map((t) => ({ Value: t.id, DisplayValue: `${t.name} (${t.arch}, ${t.id})` })),
    );
  });

  test("the tag picklist lists the tags of the picked template; a typed name gives no list", async () => {
    for (const template of seed.templates) {
      const result = await runBinding({
        task: startTask,
        target: "tag",
        inputs: { template: template.id },
        type: endpointType,
        endpoint: endpoint(secured.url, "UsernamePassword", { username: "root", password: ROOT_TOKEN }),
      });
      assert.equal(result.ok, true);
      assert.deepEqual(
        result.items.map((item) => item.Value),
        template.versions.map((v) => v.tag),
      );
      assert.equal(result.request.url, `${secured.url}/api/v1/registry/vm?id=${template.id}`);
    }
    const byName = await runBinding({
      task: startTask,
      target: "tag",
      inputs: { template: "sonoma-14" },
      type: endpointType,
      endpoint: endpoint(open.url, "None"),
    });
    assert.deepEqual([byName.ok, byName.items], [false, []], "the controller looks tags up by UUID only");
  });

  test("the agentless Start task binds the same picklists", async () => {
    const result = await runBinding({
      task: startServer,
      target: "template",
      inputs: {},
      type: endpointType,
      endpoint: endpoint(open.url, "None"),
    });
    assert.deepEqual(
      result.items.map((item) => item.Value),
      seed.templates.map((t) => t.id),
    );
  });

  test("a wrong path or a wrong selector in a data source shows up as a wrong picklist", async () => {
    const mutate = (
      change: (source: { endpointUrl: string; resultSelector?: string }) => void,
    ): EndpointType => {
      const copy = structuredClone(endpointType);
      const source = copy.dataSources?.find((s) => s.name === "AnkaTemplates");
      if (source) change(source);
      return copy;
    };
    const names = async (type: EndpointType) =>
      (
        await runBinding({
          task: startTask,
          target: "template",
          inputs: {},
          type,
          endpoint: endpoint(open.url, "None"),
        })
      ).items.map((item) => item.Value);
    const expected = seed.templates.map((t) => t.id);
    assert.deepEqual(await names(endpointType), expected);
    assert.notDeepEqual(
      await names(mutate((s) => (s.endpointUrl = "{{{endpoint.url}}}/api/v1/registry/vms"))),
      expected,
    );
    assert.notDeepEqual(await names(mutate((s) => (s.resultSelector = "jsonpath:$.body"))), expected);
    assert.notDeepEqual(await names(mutate((s) => (s.resultSelector = "jsonpath:$.templates[*]"))), expected);
  });
});

describe("the agentless tasks, as Azure DevOps runs their request chains", () => {
  /** System.AccessToken of the job; any secret the output scan knows stands in for it. */
  const jobAccessToken = LONG_PAT;
  let world: World;
  let packageUrl: string;
  /** Requests to Azure DevOps, and the PAT that stands for the build service's permissions. */
  const azdoRequests: SentRequest[] = [];
  let buildServiceToken = PAT;

  /**
   * Azure DevOps accepts the job's own token (System.AccessToken) as a Bearer token. The emulator
   * knows PATs only, so requests to it are sent with the PAT that stands for the build service's
   * permissions: the pool's Administrator role (PAT) or none (READ_ONLY_PAT).
   */
  const send: Send = (request) => {
    if (!request.url.startsWith(world.azdo.url)) return sendHttp(request);
    azdoRequests.push(request);
    const headers = { ...request.headers };
    if (headers.Authorization === `Bearer ${jobAccessToken}`)
      headers.Authorization = `Basic ${Buffer.from(`:${buildServiceToken}`).toString("base64")}`;
    return sendHttp({ ...request, headers });
  };

  const variables = (buildId: string) => ({
    "System.CollectionUri": `${world.azdo.url}/`,
    "System.TeamProjectId": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
    "System.AccessToken": jobAccessToken,
    "Build.BuildId": buildId,
  });

  const run = (task: TaskJson, inputs: Record<string, string>, buildId: string, target = world.endpoint()) =>
    runServerTask({
      task,
      inputs: { ankaConnection: target.id, ...inputs },
      variables: variables(buildId),
      endpointType,
      endpoints: [target],
      send,
      sleep: () => new Promise((resolve) => setTimeout(resolve, 50)),
    });

  /** The script a user prepares once for the agentless Start (docs/agentless.md). */
  const scriptFor = (identifier: string) =>
    encodeStartupScript(
      renderBuiltInStartupScript({
        azureDevOpsUrl: world.azdo.url,
        pool: POOL,
        agentName: agentNameFor(identifier),
        agentIdentifier: identifier,
        pat: PAT,
        agentPackageUrl: packageUrl,
      }),
    );

  const bodyOf = (run: ServerTaskRun, step: number) =>
    JSON.parse(run.steps[step]?.requests[0]?.body ?? "null") as Record<string, unknown>;

  before(async () => {
    world = await startWorld();
    const packages = await sendHttp({
      method: "GET",
      url: `${world.azdo.url}/_apis/distributedtask/packages/agent?platform=osx-arm64&$top=1&api-version=7.1`,
      headers: { Authorization: `Basic ${Buffer.from(`:${PAT}`).toString("base64")}` },
    });
    packageUrl =
      (JSON.parse(packages.text) as { value: { downloadUrl: string }[] }).value[0]?.downloadUrl ?? "";
    assert.ok(packageUrl);
  });
  after(() => world.close());

  test("Start (agentless), a build job on its agent, Terminate (agentless): nothing left", async () => {
    const id = "5150-ios";
    const started = await run(
      startServer,
      {
        template: "sonoma-14",
        tag: "xcode-15",
        agentIdentifier: "$(Build.BuildId)-ios",
        startupScriptBase64: scriptFor(id),
      },
      "5150",
    );
    assert.equal(started.result, "succeeded", started.reason);
    const template = seed.templates.find((t) => t.name === "sonoma-14");
    assert.equal(started.variables.ANKA_TEMPLATE_ID, template?.id);
    const body = bodyOf(started, 1);
    assert.equal(body.vmid, template?.id);
    assert.equal(body.tag, "xcode-15");
    assert.equal(body.external_id, id);
    assert.equal(body.name, `anka-${id}`);
    assert.equal(body.script_monitoring, true);
    assert.equal(body.startup_script, scriptFor(id));
    assert.deepEqual(body.metadata, {
      [CREATED_BY_METADATA_KEY]: CREATED_BY_VALUE,
      [POOL_METADATA_KEY]: POOL,
      [AGENT_METADATA_KEY]: `anka-${id}`,
      azdo_run: `${world.azdo.url}/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c/_build/results?buildId=5150`,
    });
    assert.ok((started.steps[2]?.requests.length ?? 0) >= 1, "it polled until Started");
    const instance = world.controller
      .instances()
      .find((i) => i.instance_id === started.variables.ANKA_INSTANCE_ID);
    assert.equal(instance?.instance_state, "Started");

    // The agent registered before Start returned, so the build job's demand finds it.
    const agent = world.azdo.agents(POOL).find((a) => a.name === `anka-${id}`);
    assert.equal(agent?.systemCapabilities.ANKA_AGENT_IDENTIFIER, id);
    const job = world.azdo.queueJob(POOL, [`ANKA_AGENT_IDENTIFIER -equals ${id}`], { durationMs: 50 });
    const deadline = Date.now() + 10_000;
    while (world.azdo.job(job.requestId)?.result === undefined && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");

    azdoRequests.length = 0;
    const terminated = await run(terminateServer, { agentIdentifier: "$(Build.BuildId)-ios" }, "5150");
    assert.equal(terminated.result, "succeeded", terminated.reason);
    assert.deepEqual(
      terminated.steps.map((s) => s.skipped),
      [true, false, false, false, false, false],
    );
    assert.deepEqual(bodyOf(terminated, 2), { id: started.variables.ANKA_INSTANCE_ID });
    assert.deepEqual(
      azdoRequests.map((r) => [r.method, r.headers.Authorization]),
      [
        ["GET", `Bearer ${jobAccessToken}`],
        ["GET", `Bearer ${jobAccessToken}`],
        ["DELETE", `Bearer ${jobAccessToken}`],
      ],
      "Azure DevOps is called with the job's token, never with the connection's secrets",
    );
    assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });

    const again = await run(terminateServer, { agentIdentifier: "$(Build.BuildId)-ios" }, "5150");
    assert.equal(again.result, "succeeded", "idempotent: nothing left is no failure");
    // The terminated VM is still listed for a minute: its metadata names the agent, which is gone.
    assert.deepEqual(
      again.steps.map((s) => s.skipped),
      [true, false, true, false, false, true],
    );
  });

  test("Terminate (agentless) by instance id, the output of AnkaStartInstance@1", async () => {
    const created = await sendHttp({
      method: "POST",
      url: `${world.controller.url}/api/v1/vm`,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ vmid: seed.templates[0]?.id, external_id: "777-mac", name: "anka-777-mac" }),
    });
    const instanceId = (JSON.parse(created.text) as { body: string[] }).body[0] as string;
    const other = await run(terminateServer, { instanceId: "no-such-instance" }, "777");
    assert.equal(other.result, "succeeded");
    assert.equal(world.controller.liveInstances(), 1, "an unknown id terminates nothing");
    const terminated = await run(terminateServer, { instanceId, removeAgent: "false" }, "777");
    assert.equal(terminated.result, "succeeded", terminated.reason);
    assert.deepEqual(bodyOf(terminated, 2), { id: instanceId });
    assert.equal(world.controller.liveInstances(), 0);
  });

  test("Start (agentless) fails on an unknown template, an unknown tag, and an instance in Error", async () => {
    const unknown = await run(
      startServer,
      { template: "monterey-12", startupScriptBase64: "ZWNobyBoaQ==" },
      "1",
    );
    assert.equal(unknown.result, "failed");
    assert.match(unknown.reason ?? "", /section 0: Expression/);

    const badTag = await run(
      startServer,
      { template: "sonoma-14", tag: "xcode-99", startupScriptBase64: "ZWNobyBoaQ==" },
      "2",
    );
    assert.equal(badTag.result, "failed");
    assert.match(badTag.reason ?? "", /section 1: HTTP 400 .*No such tag xcode-99/);

    world.controller.addFault({
      kind: "instance-error",
      externalId: "3",
      message: "startup script exit code 6",
    });
    const errored = await run(
      startServer,
      { template: "sonoma-14", agentIdentifier: "3", startupScriptBase64: "ZWNobyBoaQ==" },
      "3",
    );
    assert.equal(errored.result, "failed");
    assert.match(errored.reason ?? "", /section 2: Expression/);
    assert.ok(
      world.controller.liveInstances() >= 1,
      "a failed agentless Start leaves the VM to the Terminate job",
    );
    const cleaned = await run(terminateServer, { agentIdentifier: "3" }, "3");
    assert.equal(cleaned.result, "succeeded", cleaned.reason);
    assert.equal(world.controller.liveInstances(), 0);
  });

  test("without the pool's Administrator role the agentless Terminate fails loudly on the agent", async () => {
    const id = "9090-mac";
    const started = await run(
      startServer,
      { template: "sequoia-15", agentIdentifier: id, startupScriptBase64: scriptFor(id) },
      "9090",
    );
    assert.equal(started.result, "succeeded", started.reason);
    buildServiceToken = READ_ONLY_PAT;
    try {
      const terminated = await run(terminateServer, { agentIdentifier: id }, "9090");
      assert.equal(terminated.result, "failed");
      assert.match(terminated.reason ?? "", /section 5: HTTP 403/);
      assert.equal(world.controller.liveInstances(), 0, "the VM is gone before the agent step");
    } finally {
      buildServiceToken = PAT;
    }
    const retried = await run(terminateServer, { agentIdentifier: id }, "9090");
    assert.equal(retried.result, "succeeded", retried.reason);
    assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
  });

  test("with a root token, every controller request carries the connection's Basic header", async () => {
    const secured = await startControllerEmulator({ auth: { rootToken: ROOT_TOKEN } });
    try {
      const target = endpoint(secured.url, "UsernamePassword", { username: "root", password: ROOT_TOKEN });
      const started = await run(
        startServer,
        { template: "ventura-13", agentIdentifier: "11", startupScriptBase64: "ZWNobyBoaQ==" },
        "11",
        target,
      );
      assert.equal(started.result, "succeeded", started.reason);
      const terminated = await run(
        terminateServer,
        { agentIdentifier: "11", removeAgent: "false" },
        "11",
        target,
      );
      assert.equal(terminated.result, "succeeded", terminated.reason);
      const basic = `Basic ${Buffer.from(`root:${ROOT_TOKEN}`).toString("base64")}`;
      for (const step of [...started.steps, ...terminated.steps])
        for (const request of step.requests) assert.equal(request.headers.Authorization, basic);
      assert.equal(secured.liveInstances(), 0);
    } finally {
      await secured.close();
    }
  });
});

describe("the vsix", () => {
  test("carries the agentless tasks (task.json and icon, no script) and the overview with its picture", async () => {
    const installed = path.resolve(await taskFolder("AnkaStartInstance"), "..", "..", "..");
    for (const name of ["AnkaStartInstanceServer", "AnkaTerminateInstanceServer"]) {
      const folder = path.join(installed, "tasks", name, `${name}V1`);
      assert.deepEqual(readdirSync(folder).sort(), ["icon.png", "task.json"]);
    }
    const overview = readFileSync(path.join(installed, "overview.md"), "utf8");
    const pictures = [...overview.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1] as string);
    assert.deepEqual(pictures, ["images/anka-flow.png"]);
    for (const picture of pictures)
      assert.ok(existsSync(path.join(installed, picture)), `${picture} is in the vsix`);
  });
});
