import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { evaluateExpression, selectJsonPath } from "../helpers/azdo-templates.ts";

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

/** The names a `visibleRule` tests: `a = x && b != "" || c NotEndsWith y` names a, b and c. */
export function visibleRuleNames(rule: string): string[] {
  return rule
    .split(/&&|\|\|/)
    .map(
      (clause) =>
        /^\s*([A-Za-z][A-Za-z0-9]*)\s*(=|!=|<|>|<=|>=|[A-Za-z]+\s)/.exec(clause)?.[1] ?? clause.trim(),
    );
}

/** Rules every task.json shares, agent or agentless: visible rules and data source bindings. */
export function inputWiringProblems(task: Json): string[] {
  const problems: string[] = [];
  const inputs = (task.inputs as Json[]) ?? [];
  const byName = new Map(inputs.map((input) => [String(input.name), input]));
  const rules = [
    ...inputs.map((input) => [`input ${String(input.name)}`, input.visibleRule] as const),
    ...((task.groups as Json[]) ?? []).map(
      (group) => [`group ${String(group.name)}`, group.visibleRule] as const,
    ),
  ];
  for (const [where, rule] of rules) {
    if (rule === undefined) continue;
    for (const name of visibleRuleNames(String(rule)))
      if (!byName.has(name)) problems.push(`${where}: visibleRule names ${name}, which is not an input`);
  }
  const bindingKeys = new Set([
    "target",
    "endpointId",
    "dataSourceName",
    "parameters",
    "resultTemplate",
    "endpointUrl",
    "resultSelector",
  ]);
  const macro = (value: unknown) => /^\$\(([A-Za-z][A-Za-z0-9]*)\)$/.exec(String(value))?.[1];
  for (const binding of (task.dataSourceBindings as Json[]) ?? []) {
    const where = `binding ${String(binding.target)}`;
    for (const key of Object.keys(binding))
      if (!bindingKeys.has(key)) problems.push(`${where}: unknown key ${key}`);
    const target = byName.get(String(binding.target));
    if (!target) problems.push(`${where}: the target is not an input`);
    else if (target.type !== "pickList")
      problems.push(`${where}: the target must be a pickList to show the values`);
    else if ((target.properties as Json | undefined)?.EditableOptions !== "True")
      problems.push(`${where}: the target needs EditableOptions "True" so YAML and variables keep working`);
    const endpointInput = byName.get(macro(binding.endpointId) ?? "");
    if (!endpointInput || !/^connectedService:/.test(String(endpointInput.type)))
      problems.push(`${where}: endpointId must be $(<a connectedService input>)`);
    if (typeof binding.dataSourceName !== "string" && typeof binding.endpointUrl !== "string")
      problems.push(`${where}: needs a dataSourceName (or an inline endpointUrl)`);
    for (const [name, value] of Object.entries((binding.parameters as Json) ?? {}))
      if (!byName.has(macro(value) ?? "")) problems.push(`${where}: parameter ${name} must be $(<an input>)`);
    if (
      binding.resultTemplate !== undefined &&
      !/"Value"[\s\S]*"DisplayValue"/.test(String(binding.resultTemplate))
    )
      problems.push(`${where}: resultTemplate must produce { "Value": …, "DisplayValue": … }`);
  }
  return problems;
}

// Agentless (server) tasks. tasks.schema.json describes agent tasks only and rejects their
// execution kinds, so these rules come from the schema's common part plus the server task
// authoring doc (reference azure-devops.md §3): runsOn Server/ServerGate, one execution of
// HttpRequest, HttpRequestChain or ServiceBus, with the fields that doc lists.
const SERVER_EXECUTIONS = new Set(["HttpRequest", "HttpRequestChain", "ServiceBus"]);
const REQUEST_KEYS = new Set([
  "EndpointId",
  "EndpointUrl",
  "Method",
  "Body",
  "Headers",
  "WaitForCompletion",
  "Expression",
]);
const CANCEL_KEYS = new Set(["EndpointId", "EndpointUrl", "Method", "Body", "Headers"]);
const EXECUTION_OPTION_KEYS = new Set([
  "OutputVariables",
  "SkipSectionExpression",
  "ContinuePollingExpression",
  "DurationBetweenRetries",
]);
const METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"];
/** Predefined variables a server task may use (system.*, build.*, release.*). */
const PREDEFINED = /^(system|build|release)\.[A-Za-z.]+$/i;

export function serverTaskProblems(task: Json, endpointDataKeys: readonly string[] = []): string[] {
  // The schema's common part: everything taskJsonProblems checks except the agent handlers.
  const problems = taskJsonProblems({ ...task, execution: undefined }).filter(
    (problem) => !problem.startsWith("execution"),
  );
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const runsOn = (task.runsOn as string[] | undefined) ?? [];
  check(
    runsOn.length > 0 && runsOn.every((value) => value === "Server" || value === "ServerGate"),
    "runsOn must be Server (and/or ServerGate): a server task cannot run on an agent",
  );
  for (const key of ["prejobexecution", "postjobexecution", "minimumAgentVersion", "demands"])
    check(task[key] === undefined, `${key} has no meaning for a server task`);
  const execution = (task.execution as Json) ?? {};
  const kinds = Object.keys(execution);
  check(
    kinds.length === 1 && SERVER_EXECUTIONS.has(kinds[0] as string),
    `execution must be one of HttpRequest, HttpRequestChain, ServiceBus (found ${kinds.join(", ")})`,
  );
  const inputNames = new Set(
    ((task.inputs as Json[]) ?? []).map((input) => String(input.name).toLowerCase()),
  );
  const defined = new Set<string>();

  const checkExpression = (where: string, text: unknown) => {
    if (text === undefined) return;
    const expression = String(text);
    try {
      // Parses (macros are text to the parser) and names only things that exist.
      evaluateExpression(expression.replace(/\$\([^)]*\)/g, "x"), {
        root: {},
        variables: {},
        taskInputs: {},
        response: { statuscode: "OK", headers: {}, content: {} },
      });
    } catch (error) {
      problems.push(`${where}: ${(error as Error).message}`);
    }
    for (const match of expression.matchAll(/taskInputs\['([^']+)'\]/gi))
      check(
        inputNames.has((match[1] as string).toLowerCase()),
        `${where}: taskInputs['${match[1]}'] is not an input`,
      );
    for (const match of expression.matchAll(/variables\['([^']+)'\]/gi))
      check(
        defined.has(match[1] as string) || PREDEFINED.test(match[1] as string),
        `${where}: variables['${match[1]}'] is set by no earlier section`,
      );
    for (const match of expression.matchAll(/jsonpath\('((?:[^']|'')*)'\)/gi)) {
      try {
        selectJsonPath({}, (match[1] as string).replaceAll("''", "'").replace(/\$\([^)]*\)/g, "x"));
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }
    }
  };
  const checkMacros = (where: string, text: unknown) => {
    for (const match of String(text ?? "").matchAll(/\$\(([^()]+)\)/g)) {
      const name = match[1] as string;
      const endpointKey = /^endpoint\.(.+)$/i.exec(name)?.[1];
      check(
        inputNames.has(name.toLowerCase()) ||
          defined.has(name) ||
          PREDEFINED.test(name) ||
          (endpointKey !== undefined && (endpointKey === "url" || endpointDataKeys.includes(endpointKey))),
        `${where}: $(${name}) is no input, earlier output, predefined variable or endpoint field`,
      );
    }
    for (const match of String(text ?? "").matchAll(/\{\{#if ([^}]+)\}\}/g))
      check(
        inputNames.has((match[1] as string).trim().toLowerCase()),
        `${where}: {{#if ${match[1]}}} is no input`,
      );
  };
  const checkRequest = (where: string, request: Json, keys: Set<string>) => {
    for (const key of Object.keys(request)) check(keys.has(key), `${where}: unknown field ${key}`);
    check(
      typeof request.EndpointUrl === "string" && request.EndpointUrl !== "",
      `${where}: EndpointUrl required`,
    );
    check(METHODS.includes(String(request.Method)), `${where}: Method ${String(request.Method)}`);
    if (request.WaitForCompletion !== undefined)
      check(
        ["true", "false"].includes(String(request.WaitForCompletion)),
        `${where}: WaitForCompletion "true"/"false"`,
      );
    if (request.Headers !== undefined) {
      try {
        const headers = JSON.parse(String(request.Headers)) as unknown;
        check(typeof headers === "object" && headers !== null, `${where}: Headers must be a JSON object`);
      } catch {
        problems.push(`${where}: Headers must be a JSON object`);
      }
    }
    if (request.EndpointId !== undefined && request.EndpointId !== "") {
      const input = /^\$\(([A-Za-z][A-Za-z0-9]*)\)$/.exec(String(request.EndpointId))?.[1];
      const declared = ((task.inputs as Json[]) ?? []).find((i) => i.name === input);
      check(
        declared !== undefined && /^connectedService:/.test(String(declared.type)),
        `${where}: EndpointId must be $(<a connectedService input>) or empty`,
      );
    }
    for (const key of ["EndpointUrl", "Method", "Body", "Headers", "EndpointId"])
      checkMacros(`${where}.${key}`, request[key]);
    checkExpression(`${where}.Expression`, request.Expression);
  };

  if (execution.HttpRequest !== undefined) {
    const spec = execution.HttpRequest as Json;
    for (const key of Object.keys(spec))
      check(["Execute", "Cancel", "Events"].includes(key), `HttpRequest: unknown section ${key}`);
    checkRequest("HttpRequest.Execute", (spec.Execute as Json) ?? {}, REQUEST_KEYS);
    if (spec.Cancel !== undefined) checkRequest("HttpRequest.Cancel", spec.Cancel as Json, CANCEL_KEYS);
    for (const [event, value] of Object.entries((spec.Events as Json) ?? {})) {
      check(["TaskAssigned", "TaskStarted", "TaskCompleted"].includes(event), `HttpRequest.Events: ${event}`);
      check(
        /^\d+:\d{2}:\d{2}$/.test(String((value as Json).Timeout)),
        `HttpRequest.Events.${event}: Timeout hh:mm:ss`,
      );
    }
  }
  if (execution.HttpRequestChain !== undefined) {
    const sections = (execution.HttpRequestChain as Json).Execute;
    check(
      Array.isArray(sections) && sections.length > 0,
      "HttpRequestChain.Execute must be a list of sections",
    );
    for (const [index, section] of ((sections as Json[]) ?? []).entries()) {
      const where = `HttpRequestChain.Execute[${index}]`;
      for (const key of Object.keys(section))
        check(["RequestInputs", "ExecutionOptions"].includes(key), `${where}: unknown key ${key}`);
      const options = (section.ExecutionOptions as Json) ?? {};
      for (const key of Object.keys(options))
        check(EXECUTION_OPTION_KEYS.has(key), `${where}: unknown option ${key}`);
      // A section is skipped before it runs: its SkipSectionExpression sees earlier outputs only.
      checkExpression(`${where}.SkipSectionExpression`, options.SkipSectionExpression);
      checkMacros(`${where}.SkipSectionExpression`, options.SkipSectionExpression);
      checkRequest(where, (section.RequestInputs as Json) ?? {}, REQUEST_KEYS);
      checkExpression(`${where}.ContinuePollingExpression`, options.ContinuePollingExpression);
      if (options.ContinuePollingExpression !== undefined)
        check(options.DurationBetweenRetries !== undefined, `${where}: polling needs DurationBetweenRetries`);
      if (options.DurationBetweenRetries !== undefined) {
        const duration = String(options.DurationBetweenRetries);
        check(
          /^\d+:\d{2}:\d{2}$/.test(duration) || /^\$\([A-Za-z]+\)$/.test(duration),
          `${where}: DurationBetweenRetries hh:mm:ss`,
        );
        checkMacros(`${where}.DurationBetweenRetries`, duration);
      }
      const outputs =
        typeof options.OutputVariables === "string"
          ? (JSON.parse(options.OutputVariables) as Json)
          : ((options.OutputVariables as Json) ?? {});
      for (const [name, expression] of Object.entries(outputs)) {
        check(/^[A-Za-z_][A-Za-z0-9_]*$/.test(name), `${where}: output variable name ${name}`);
        checkExpression(`${where}.OutputVariables.${name}`, expression);
        checkMacros(`${where}.OutputVariables.${name}`, expression);
      }
      for (const name of Object.keys(outputs)) defined.add(name);
    }
  }
  return problems;
}

const tasksDir = new URL("../../src/tasks/", import.meta.url);
const readTask = (folder: string) =>
  JSON.parse(readFileSync(new URL(`${folder}/task.json`, tasksDir), "utf8")) as Json;
const isServerTask = (task: Json) =>
  ((task.runsOn as string[] | undefined) ?? ["Agent"]).every(
    (value) => value === "Server" || value === "ServerGate",
  );
const taskFolders = readdirSync(tasksDir).filter((folder) => /V\d+$/.test(folder));
const agentTasks = taskFolders.filter((folder) => !isServerTask(readTask(folder)));
const serverTasks = taskFolders.filter((folder) => isServerTask(readTask(folder)));
const endpointDataKeys = (() => {
  const manifest = JSON.parse(
    readFileSync(new URL("../../vss-extension.json", import.meta.url), "utf8"),
  ) as Json;
  const endpointType = (manifest.contributions as Json[]).find(
    (c) => c.type === "ms.vss-endpoint.service-endpoint-type",
  )?.properties as Json;
  return (endpointType.inputDescriptors as Json[]).map((d) => String(d.id));
})();

describe("agent task.json files follow task-lib's schema rules", () => {
  test("the two contract tasks and the cleanup task", () => {
    assert.deepEqual(agentTasks.sort(), ["AnkaCleanupV1", "AnkaStartInstanceV1", "AnkaTerminateInstanceV1"]);
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

describe("every task: visible rules and data source bindings name real inputs", () => {
  for (const folder of taskFolders) {
    test(`${folder}: wiring`, () => {
      assert.deepEqual(inputWiringProblems(readTask(folder)), []);
    });
  }

  test("the checker catches a visibleRule or a binding that names nothing", () => {
    const problems = inputWiringProblems({
      groups: [{ name: "g", displayName: "G", visibleRule: "mode = x" }],
      inputs: [
        { name: "conn", type: "connectedService:VeertuAnkaController" },
        { name: "template", type: "string", visibleRule: 'show = true && conn != ""' },
        { name: "tag", type: "pickList", properties: { EditableOptions: "False" } },
      ],
      dataSourceBindings: [
        { target: "template", endpointId: "$(conn)", dataSourceName: "A" },
        { target: "tag", endpointId: "$(connection)", dataSourceName: "B", parameters: { id: "$(tmpl)" } },
        { target: "nothing", endpointId: "$(conn)", dataSourceName: "C", resultTemplate: "{{{id}}}" },
      ],
    });
    for (const expected of [
      "group g: visibleRule names mode",
      "input template: visibleRule names show",
      "binding template: the target must be a pickList",
      "binding tag: the target needs EditableOptions",
      "binding tag: endpointId must be",
      "binding tag: parameter id must be",
      "binding nothing: the target is not an input",
      "binding nothing: resultTemplate must produce",
    ])
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `expected a problem about ${expected}: ${problems.join("; ")}`,
      );
    assert.ok(!problems.some((p) => p.includes("visibleRule names conn")));
  });
});

describe("agentless task.json files follow the server task rules", () => {
  test("there are the two agentless tasks, with names and ids of their own", () => {
    assert.deepEqual(serverTasks.sort(), ["AnkaStartInstanceServerV1", "AnkaTerminateInstanceServerV1"]);
    const all = taskFolders.map(readTask);
    assert.equal(new Set(all.map((t) => t.id)).size, all.length, "task ids are unique");
    assert.equal(new Set(all.map((t) => t.name)).size, all.length, "task names are unique");
  });

  for (const folder of serverTasks) {
    const task = readTask(folder);
    test(`${folder}: no violations`, () => {
      assert.deepEqual(serverTaskProblems(task, endpointDataKeys), []);
    });
    test(`${folder}: folder and major version agree; the agent-task schema would reject it`, () => {
      assert.equal(`${String(task.name)}V${(task.version as Json).Major}`, folder);
      assert.ok(taskJsonProblems(task).some((p) => /unknown handler HttpRequest/.test(p)));
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
  }

  test("the checker catches violations", () => {
    const problems = serverTaskProblems(
      {
        id: "b793a227-1524-4493-9691-1bc3baf83150",
        name: "X",
        friendlyName: "X",
        instanceNameFormat: "X",
        category: "Utility",
        version: { Major: 1, Minor: 0, Patch: 0 },
        runsOn: ["Agent"],
        inputs: [
          { name: "conn", type: "connectedService:VeertuAnkaController", label: "C" },
          { name: "id", type: "string", label: "I" },
        ],
        execution: {
          HttpRequestChain: {
            Execute: [
              {
                RequestInputs: {
                  EndpointId: "$(connection)",
                  EndpointUrl: "$(endpoint.url)/api/v1/vm?id=$(instance)",
                  Method: "FETCH",
                  Headers: "not json",
                  Expression: "eq(root['status'], 'OK'",
                  Extra: "x",
                },
                ExecutionOptions: {
                  OutputVariables: { ID: "jsonpath('$.body..id')[0]" },
                  SkipSectionExpression: "isNullOrEmpty(variables['LATER'])",
                  ContinuePollingExpression: "eq(taskInputs['nope'], 'x')",
                },
              },
              {
                RequestInputs: {
                  EndpointUrl: "$(endpoint.password)",
                  Method: "GET",
                  Body: "{{#if missing}}x{{/if}}",
                },
              },
            ],
          },
          Node20_1: { target: "index.js" },
        },
      },
      ["agentPool"],
    );
    for (const expected of [
      "runsOn must be Server",
      "execution must be one of",
      "EndpointId must be",
      "$(instance) is no input",
      "Method FETCH",
      "Headers must be a JSON object",
      "unknown field Extra",
      "Expression: expression",
      "recursive descent",
      "variables['LATER'] is set by no earlier section",
      "taskInputs['nope'] is not an input",
      "polling needs DurationBetweenRetries",
      "$(endpoint.password) is no input",
      "{{#if missing}} is no input",
    ])
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `expected a problem about ${expected}: ${problems.join("; ")}`,
      );
  });
});

describe("the contract's inputs and outputs", () => {
  const read = readTask;
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
