import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";

/**
 * The rules of azure-pipelines-task-lib's tasks.schema.json (draft-04, agent tasks), written out
 * as our own checks, plus what tfx and the agent require beyond the schema.
 */
const TOP_LEVEL = new Set([
  "$schema",
  "id",
  "name",
  "friendlyName",
  "description",
  "helpUrl",
  "helpMarkDown",
  "author",
  "preview",
  "deprecated",
  "removalDate",
  "deprecationMessage",
  "showEnvironmentVariables",
  "runsOn",
  "visibility",
  "category",
  "groups",
  "demands",
  "minimumAgentVersion",
  "version",
  "instanceNameFormat",
  "releaseNotes",
  "inputs",
  "dataSourceBindings",
  "sourceDefinitions",
  "prejobexecution",
  "execution",
  "postjobexecution",
  "messages",
  "outputVariables",
  "restrictions",
]);
const CATEGORIES = [
  "Build",
  "Utility",
  "Test",
  "Package",
  "Deploy",
  "Azure Repos",
  "Azure Boards",
  "Azure Pipelines",
  "Azure Test Plans",
  "Azure Artifacts",
];
const INPUT_KEYS = new Set([
  "name",
  "aliases",
  "label",
  "type",
  "defaultValue",
  "required",
  "helpMarkDown",
  "groupName",
  "visibleRule",
  "properties",
  "options",
]);
const INPUT_TYPES = [
  "boolean",
  "filePath",
  "multiLine",
  "pickList",
  "radio",
  "secureFile",
  "string",
  "int",
  "identities",
  "querycontrol",
];
const TRUE_FALSE = ["True", "False"];
const INPUT_PROPERTIES: Record<string, (value: unknown) => boolean> = {
  EditableOptions: (v) => TRUE_FALSE.includes(v as string),
  MultiSelect: (v) => TRUE_FALSE.includes(v as string),
  MultiSelectFlatList: (v) => TRUE_FALSE.includes(v as string),
  DisableManageLink: (v) => TRUE_FALSE.includes(v as string),
  IsSearchable: (v) => TRUE_FALSE.includes(v as string),
  PopulateDefaultValue: (v) => TRUE_FALSE.includes(v as string),
  isVariableOrNonNegativeNumber: (v) => v === "true" || v === "false",
  resizable: (v) => typeof v === "boolean",
  rows: (v) => typeof v === "string" && /^\d+$/.test(v),
  maxLength: (v) => typeof v === "string" && /^\d+$/.test(v),
  editorExtension: (v) => typeof v === "string",
  EndpointFilterRule: (v) => typeof v === "string",
};
const HANDLERS = new Set(["Node24", "Node20_1", "Node16", "Node10", "Node", "PowerShell3", "PowerShell"]);

type Json = Record<string, unknown>;

export function taskJsonProblems(task: Json): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  for (const key of Object.keys(task)) check(TOP_LEVEL.has(key), `unknown top-level property ${key}`);
  check(
    /^[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$/.test(String(task.id)),
    "id must be a GUID",
  );
  check(/^[A-Za-z0-9-]+$/.test(String(task.name)), "name: letters, digits and dashes only");
  check(
    typeof task.friendlyName === "string" && task.friendlyName.length > 0 && task.friendlyName.length <= 40,
    "friendlyName: 1 to 40 characters (tfx)",
  );
  check(
    typeof task.instanceNameFormat === "string" && task.instanceNameFormat.length > 0,
    "instanceNameFormat is required (tfx)",
  );
  check(CATEGORIES.includes(task.category as string), "category not in the schema's list");
  for (const value of (task.runsOn as unknown[]) ?? [])
    check(
      ["Agent", "MachineGroup", "Server", "ServerGate", "DeploymentGroup"].includes(value as string),
      `runsOn ${value}`,
    );
  for (const value of (task.visibility as unknown[]) ?? [])
    check(["Build", "Release"].includes(value as string), `visibility ${value}`);
  if (task.minimumAgentVersion !== undefined)
    check(/^\d+\.\d+(\.\d+)?$/.test(String(task.minimumAgentVersion)), "minimumAgentVersion pattern");
  const version = task.version as Json;
  check(
    version !== undefined &&
      ["Major", "Minor", "Patch"].every((k) => typeof version[k] === "number") &&
      Object.keys(version).length === 3,
    "version {Major, Minor, Patch} numbers only",
  );
  const groups = ((task.groups as Json[]) ?? []).map((group) => {
    check(
      typeof group.name === "string" && typeof group.displayName === "string",
      "group needs name and displayName",
    );
    for (const key of Object.keys(group))
      check(["name", "displayName", "isExpanded", "visibleRule"].includes(key), `group property ${key}`);
    return group.name;
  });
  const inputNames = new Set<string>();
  for (const input of (task.inputs as Json[]) ?? []) {
    const where = `input ${String(input.name)}`;
    for (const key of Object.keys(input)) check(INPUT_KEYS.has(key), `${where}: unknown property ${key}`);
    check(/^[A-Za-z][A-Za-z0-9]*$/.test(String(input.name)), `${where}: name pattern`);
    check(!inputNames.has(String(input.name)), `${where}: duplicate`);
    inputNames.add(String(input.name));
    check(typeof input.label === "string", `${where}: label required`);
    check(
      INPUT_TYPES.includes(input.type as string) || /^connectedService:.+$/.test(String(input.type)),
      `${where}: type ${String(input.type)}`,
    );
    if (input.defaultValue !== undefined)
      check(
        ["string", "boolean"].includes(typeof input.defaultValue),
        `${where}: defaultValue string or boolean`,
      );
    if (input.required !== undefined)
      check(typeof input.required === "boolean", `${where}: required is a boolean`);
    if (input.groupName !== undefined)
      check(groups.includes(input.groupName), `${where}: group ${String(input.groupName)} is not declared`);
    for (const [key, value] of Object.entries((input.properties as Json) ?? {})) {
      const valid = INPUT_PROPERTIES[key];
      check(valid !== undefined && valid(value), `${where}: property ${key}=${JSON.stringify(value)}`);
    }
  }
  for (const output of (task.outputVariables as Json[]) ?? []) {
    check(/^[A-Za-z][A-Za-z0-9]*$/.test(String(output.name)), `output ${String(output.name)}: name pattern`);
    for (const key of Object.keys(output))
      check(["name", "description"].includes(key), `output property ${key}`);
  }
  for (const section of ["execution", "prejobexecution", "postjobexecution"]) {
    for (const [handler, spec] of Object.entries((task[section] as Json) ?? {})) {
      check(HANDLERS.has(handler), `${section}: unknown handler ${handler}`);
      check(typeof (spec as Json).target === "string", `${section}.${handler}: target required`);
    }
  }
  return problems;
}

const tasksDir = new URL("../../src/tasks/", import.meta.url);
const agentTasks = readdirSync(tasksDir).filter((folder) => /V\d+$/.test(folder));

describe("agent task.json files follow task-lib's schema rules", () => {
  test("there are the two contract tasks", () => {
    assert.deepEqual(agentTasks.sort(), ["AnkaStartInstanceV1", "AnkaTerminateInstanceV1"]);
  });

  for (const folder of agentTasks) {
    const task = JSON.parse(readFileSync(new URL(`${folder}/task.json`, tasksDir), "utf8")) as Json;
    test(`${folder}: no schema violations`, () => {
      assert.deepEqual(taskJsonProblems(task), []);
    });
    test(`${folder}: Node20_1 and Node24 run the same entry; folder and major version agree`, () => {
      const execution = task.execution as Record<string, { target: string }>;
      assert.equal(execution.Node20_1?.target, "index.js");
      assert.equal(execution.Node24?.target, "index.js");
      assert.equal(`${String(task.name)}V${(task.version as Json).Major}`, folder);
    });
    test(`${folder}: the connection input is the contract's endpoint type, every input has help`, () => {
      const inputs = task.inputs as Json[];
      assert.equal(
        inputs.find((i) => i.name === "ankaConnection")?.type,
        "connectedService:VeertuAnkaController",
      );
      for (const input of inputs)
        assert.ok(String(input.helpMarkDown ?? "").length > 10, `${String(input.name)} has no help`);
    });
    test(`${folder}: every message the entry uses exists`, () => {
      const source = readFileSync(new URL(`${folder}/main.ts`, tasksDir), "utf8");
      const used = [...source.matchAll(/tl\.loc\("(\w+)"/g)].map((m) => m[1]);
      assert.ok(used.length > 0);
      for (const key of used) assert.ok((task.messages as Json)[key as string], `message ${key} missing`);
    });
  }

  test("the checker catches violations", () => {
    const broken = {
      id: "x",
      name: "a b",
      friendlyName: "x".repeat(41),
      category: "Nope",
      version: { Major: "1" },
      inputs: [{ name: "1a", type: "text", properties: { resizable: "true" } }],
      execution: { HttpRequest: {} },
      extra: 1,
    };
    const problems = taskJsonProblems(broken);
    for (const expected of [
      "unknown top-level property extra",
      "id must be a GUID",
      "name: letters",
      "friendlyName",
      "instanceNameFormat",
      "category",
      "version",
      "name pattern",
      "label required",
      "type text",
      "property resizable",
      "unknown handler HttpRequest",
    ]) {
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `expected a problem about ${expected}: ${problems.join("; ")}`,
      );
    }
  });
});

describe("the contract's inputs and outputs", () => {
  const read = (folder: string) =>
    JSON.parse(readFileSync(new URL(`${folder}/task.json`, tasksDir), "utf8")) as Json;
  test("AnkaStartInstance@1", () => {
    const task = read("AnkaStartInstanceV1");
    const inputs = Object.fromEntries((task.inputs as Json[]).map((i) => [i.name, i]));
    for (const name of [
      "ankaConnection",
      "template",
      "tag",
      "agentIdentifier",
      "nodeGroup",
      "priority",
      "vcpu",
      "vram",
      "startupScript",
      "startTimeoutMinutes",
      "agentTimeoutMinutes",
      "waitForAgent",
      "keepInstanceOnFailure",
    ]) {
      assert.ok(inputs[name], `input ${name}`);
    }
    assert.equal(inputs.agentIdentifier?.defaultValue, "$(Build.BuildId)");
    assert.equal(inputs.startTimeoutMinutes?.defaultValue, "30");
    assert.equal(inputs.agentTimeoutMinutes?.defaultValue, "10");
    assert.equal(inputs.waitForAgent?.defaultValue, "true");
    assert.equal(inputs.keepInstanceOnFailure?.defaultValue, "false");
    assert.deepEqual(
      (task.outputVariables as Json[]).map((o) => o.name),
      ["AnkaInstanceId", "AnkaAgentName", "AnkaAgentIdentifier", "AnkaNodeId", "AnkaVmIp"],
    );
  });
  test("AnkaTerminateInstance@1", () => {
    const task = read("AnkaTerminateInstanceV1");
    const inputs = Object.fromEntries((task.inputs as Json[]).map((i) => [i.name, i]));
    assert.deepEqual(Object.keys(inputs), ["ankaConnection", "agentIdentifier", "instanceId", "removeAgent"]);
    assert.equal(inputs.removeAgent?.defaultValue, "true");
  });
});
