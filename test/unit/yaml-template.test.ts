import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { expandPipelineJobs, expandTemplate, TemplateExpansionError } from "../helpers/azdo-yaml.ts";

/** templates/anka-job.yml, expanded as Azure Pipelines expands it at compile time. */
type Mapping = Record<string, unknown>;
const root = new URL("../../", import.meta.url);
const templateText = readFileSync(new URL("templates/anka-job.yml", root), "utf8");
const readTemplate = (path: string) => readFileSync(new URL(path, root), "utf8");
const taskJson = (folder: string) =>
  JSON.parse(readFileSync(new URL(`src/tasks/${folder}/task.json`, root), "utf8")) as {
    inputs: { name: string }[];
    outputVariables?: { name: string }[];
  };

const documented = {
  connection: "my-anka-controller",
  template: "sonoma-14",
  tag: "xcode-15.4",
  pool: "macOS",
  steps: [{ script: "xcodebuild -version" }],
};

const jobsOf = (parameters: Mapping) => expandTemplate(templateText, parameters).jobs as Mapping[];
const stepsOf = (job: Mapping | undefined) => (job?.steps ?? []) as Mapping[];
const taskStep = (job: Mapping | undefined, task: string) => stepsOf(job).find((step) => step.task === task);

describe("templates/anka-job.yml", () => {
  test("expands to start, build and stop jobs bound by one agent identifier", () => {
    const [start, build, stop, ...rest] = jobsOf(documented);
    assert.equal(rest.length, 0);
    assert.deepEqual([start?.job, build?.job, stop?.job], ["anka_start", "anka", "anka_stop"]);
    const identifier = "$(Build.BuildId)-anka";

    assert.deepEqual(start?.dependsOn, []);
    assert.deepEqual(start?.pool, { vmImage: "ubuntu-latest" });
    const startStep = taskStep(start, "AnkaStartInstance@1");
    assert.equal(startStep?.name, "anka");
    assert.deepEqual(startStep?.inputs, {
      ankaConnection: "my-anka-controller",
      template: "sonoma-14",
      tag: "xcode-15.4",
      agentIdentifier: identifier,
    });

    assert.equal(build?.dependsOn, "anka_start");
    assert.deepEqual(build?.pool, {
      name: "macOS",
      demands: [`ANKA_AGENT_IDENTIFIER -equals ${identifier}`],
    });
    assert.deepEqual(build?.steps, documented.steps);
    assert.equal(build?.timeoutInMinutes, 60);
    assert.equal(build?.condition, undefined, "the build runs only when the VM started");

    assert.deepEqual(stop?.dependsOn, ["anka_start", "anka"]);
    assert.equal(stop?.condition, "always()");
    assert.deepEqual(stop?.variables, {
      ankaInstanceId: "$[ dependencies.anka_start.outputs['anka.AnkaInstanceId'] ]",
    });
    assert.deepEqual(taskStep(stop, "AnkaTerminateInstance@1")?.inputs, {
      ankaConnection: "my-anka-controller",
      agentIdentifier: identifier,
      instanceId: "$(ankaInstanceId)",
    });
    for (const job of [start, stop]) assert.deepEqual(stepsOf(job)[0], { checkout: "none" });
  });

  test("every input it sets exists on the task, and the output it reads is declared", () => {
    const [start, , stop] = jobsOf(documented);
    const startInputs = taskJson("AnkaStartInstanceV1").inputs.map((i) => i.name);
    for (const name of Object.keys(taskStep(start, "AnkaStartInstance@1")?.inputs as Mapping))
      assert.ok(startInputs.includes(name), `AnkaStartInstance has no input ${name}`);
    const terminateInputs = taskJson("AnkaTerminateInstanceV1").inputs.map((i) => i.name);
    for (const name of Object.keys(taskStep(stop, "AnkaTerminateInstance@1")?.inputs as Mapping))
      assert.ok(terminateInputs.includes(name), `AnkaTerminateInstance has no input ${name}`);
    assert.ok(taskJson("AnkaStartInstanceV1").outputVariables?.some((o) => o.name === "AnkaInstanceId"));
  });

  test("two uses in one pipeline get their own jobs and identifiers; a suffix overrides the name", () => {
    const ios = jobsOf({ ...documented, name: "ios" });
    const mac = jobsOf({ ...documented, name: "mac", agentIdentifierSuffix: "macos-15", tag: "" });
    const names = [...ios, ...mac].map((job) => job.job);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual((ios[1]?.pool as Mapping).demands, [
      "ANKA_AGENT_IDENTIFIER -equals $(Build.BuildId)-ios",
    ]);
    assert.deepEqual((mac[1]?.pool as Mapping).demands, [
      "ANKA_AGENT_IDENTIFIER -equals $(Build.BuildId)-macos-15",
    ]);
    assert.equal((taskStep(mac[0], "AnkaStartInstance@1")?.inputs as Mapping).tag, "");
    assert.equal(
      mac[2]?.variables && (mac[2].variables as Mapping).ankaInstanceId,
      "$[ dependencies.mac_start.outputs['anka.AnkaInstanceId'] ]",
    );
  });

  test("control pool, dependencies and timeout are parameters", () => {
    const [start, build, stop] = jobsOf({
      ...documented,
      controlPool: { name: "linux-agents" },
      dependsOn: ["lint"],
      timeoutInMinutes: 120,
    });
    assert.deepEqual(start?.pool, { name: "linux-agents" });
    assert.deepEqual(stop?.pool, { name: "linux-agents" });
    assert.deepEqual(start?.dependsOn, ["lint"]);
    assert.equal(build?.timeoutInMinutes, 120);
  });

  test("missing, unknown and mistyped parameters fail as Azure Pipelines fails them", () => {
    const { pool: _pool, ...withoutPool } = documented;
    assert.throws(() => jobsOf(withoutPool), /'pool' parameter must be provided/);
    assert.throws(() => jobsOf({ ...documented, templat: "x" }), /Unexpected parameter 'templat'/);
    assert.throws(() => jobsOf({ ...documented, steps: "xcodebuild" }), TemplateExpansionError);
    assert.throws(() => jobsOf({ ...documented, steps: [{ run: "x" }] }), /is not a step/);
    assert.throws(() => jobsOf({ ...documented, timeoutInMinutes: "soon" }), /must be a number/);
  });

  test("the YAML examples in the documentation that use the template expand", () => {
    const documents = ["README.md", ...readdirSync(new URL("docs/", root)).map((f) => `docs/${f}`)].filter(
      (f) => f.endsWith(".md"),
    );
    let examples = 0;
    for (const document of documents) {
      const text = readFileSync(new URL(document, root), "utf8");
      for (const match of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
        const yaml = match[1] as string;
        if (!yaml.includes("template: templates/anka-job.yml")) continue;
        examples++;
        const jobs = expandPipelineJobs(yaml, readTemplate);
        const names = jobs.map((job) => job.job);
        assert.equal(new Set(names).size, names.length, `${document}: job names are unique`);
      }
    }
    assert.ok(examples >= 2, "README and the marketplace overview show the template");
  });
});
