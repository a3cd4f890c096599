/**
 * Expands a YAML pipeline template the way Azure Pipelines does at compile time, for the subset of
 * template syntax templates/anka-job.yml uses: typed `parameters` (string, number, boolean,
 * object, stepList) with defaults, and `${{ }}` template expressions made of `parameters.<name>`,
 * string literals and `coalesce()`. A whole-value expression inserts the value itself (a step
 * list, an object); inside a longer string it must give a scalar. Runtime expressions `$[ ]` and
 * macros `$( )` stay for the run. Anything else (`${{ if }}`, `${{ each }}`, other functions)
 * throws, so that the template cannot start using it without this expander learning it first.
 *
 * Sources: learn.microsoft.com/azure/devops/pipelines/process/templates (parameter types, stepList,
 * parameters in templates) and .../process/expressions (template expressions, coalesce).
 */
import { parse } from "yaml";

type Value = unknown;
type Mapping = Record<string, unknown>;

export class TemplateExpansionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateExpansionError";
  }
}

interface ParameterSpec {
  name: string;
  type: string;
  default?: Value;
}

const isMapping = (value: unknown): value is Mapping =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Step keys a stepList item may start with (the step types of the YAML schema). */
const STEP_KEYS = [
  "task",
  "script",
  "bash",
  "pwsh",
  "powershell",
  "checkout",
  "download",
  "publish",
  "template",
];

function checkType(spec: ParameterSpec, value: Value): Value {
  const where = `parameter ${spec.name}`;
  switch (spec.type) {
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      throw new TemplateExpansionError(`${where} must be a string`);
    case "number":
      if (typeof value === "number") return value;
      if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
      throw new TemplateExpansionError(`${where} must be a number`);
    case "boolean":
      if (typeof value === "boolean") return value;
      if (typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
      throw new TemplateExpansionError(`${where} must be a boolean`);
    case "object":
      return value;
    case "stepList":
      if (!Array.isArray(value)) throw new TemplateExpansionError(`${where} must be a list of steps`);
      for (const step of value)
        if (!isMapping(step) || !STEP_KEYS.some((key) => key in step))
          throw new TemplateExpansionError(`${where}: ${JSON.stringify(step)} is not a step`);
      return value;
    default:
      throw new TemplateExpansionError(`${where}: type ${spec.type} is not supported here`);
  }
}

// Template expressions: parameters.name, parameters['name'], 'literal', coalesce(...)
function evaluate(text: string, parameters: Mapping): Value {
  let position = 0;
  const fail = (what: string): never => {
    throw new TemplateExpansionError(`\${{ ${text} }}: ${what}`);
  };
  const space = () => {
    while (/\s/.test(text[position] ?? "")) position++;
  };
  const value = (): Value => {
    space();
    const rest = text.slice(position);
    if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1);
      if (end < 0) fail("unterminated string");
      position += end + 1;
      return rest.slice(1, end);
    }
    const word = /^[A-Za-z_][\w]*/.exec(rest)?.[0];
    if (!word) return fail("expected a value");
    position += word.length;
    if (word === "parameters") {
      let name: string | undefined;
      if (text[position] === ".") {
        position++;
        name = /^[A-Za-z_][\w]*/.exec(text.slice(position))?.[0];
        if (!name) fail("expected a parameter name");
        position += (name as string).length;
      } else if (text.startsWith("['", position)) {
        const end = text.indexOf("']", position);
        name = text.slice(position + 2, end);
        position = end + 2;
      } else fail("parameters needs .name");
      if (!((name as string) in parameters)) fail(`no parameter ${name}`);
      return parameters[name as string];
    }
    if (word === "coalesce") {
      space();
      if (text[position] !== "(") fail("expected (");
      position++;
      const args: Value[] = [];
      for (;;) {
        args.push(value());
        space();
        const char = text[position++];
        if (char === ")") break;
        if (char !== ",") fail("expected , or )");
      }
      return args.find((arg) => arg !== null && arg !== undefined && arg !== "") ?? "";
    }
    return fail(`${word} is not supported by this expander`);
  };
  const result = value();
  space();
  if (position !== text.length) fail("unexpected text");
  return result;
}

const WHOLE = /^\$\{\{(.*)\}\}$/s;
const EMBEDDED = /\$\{\{(.*?)\}\}/gs;

function expandString(text: string, parameters: Mapping): Value {
  const whole = WHOLE.exec(text);
  if (whole && !whole[1]?.includes("}}")) return evaluate((whole[1] as string).trim(), parameters);
  return text.replace(EMBEDDED, (_, expression: string) => {
    const value = evaluate(expression.trim(), parameters);
    if (typeof value === "object" && value !== null)
      throw new TemplateExpansionError(`\${{ ${expression.trim()} }} gives an object inside a string`);
    return String(value);
  });
}

function expandNode(node: Value, parameters: Mapping): Value {
  if (typeof node === "string") return expandString(node, parameters);
  if (Array.isArray(node)) return node.map((item) => expandNode(item, parameters));
  if (isMapping(node)) {
    const out: Mapping = {};
    for (const [key, value] of Object.entries(node)) {
      if (key.includes("${{"))
        throw new TemplateExpansionError(`template directives in keys (${key}) are not supported here`);
      out[key] = expandNode(value, parameters);
    }
    return out;
  }
  return node;
}

/** Expands a template file's text with the caller's parameters; returns the template body. */
export function expandTemplate(source: string, given: Mapping): Mapping {
  const document = parse(source) as Mapping;
  const specs = (document.parameters ?? []) as ParameterSpec[];
  if (!Array.isArray(specs)) throw new TemplateExpansionError("parameters must be a list");
  const parameters: Mapping = {};
  for (const spec of specs) {
    if (spec.name in given) parameters[spec.name] = checkType(spec, given[spec.name]);
    else if ("default" in spec) parameters[spec.name] = spec.default;
    else throw new TemplateExpansionError(`A value for the '${spec.name}' parameter must be provided.`);
  }
  for (const name of Object.keys(given))
    if (!specs.some((spec) => spec.name === name))
      throw new TemplateExpansionError(`Unexpected parameter '${name}'`);
  const { parameters: _declared, ...body } = document;
  return expandNode(body, parameters) as Mapping;
}

/**
 * A pipeline's `jobs:` with `- template: <path>` entries replaced by the template's jobs, as the
 * YAML examples in the documentation use it.
 */
export function expandPipelineJobs(pipelineYaml: string, readTemplate: (path: string) => string): Mapping[] {
  const pipeline = parse(pipelineYaml) as Mapping;
  const jobs = pipeline.jobs;
  if (!Array.isArray(jobs)) throw new TemplateExpansionError("the pipeline has no jobs list");
  return jobs.flatMap((job: Mapping) => {
    if (typeof job.template !== "string") return [job];
    const expanded = expandTemplate(readTemplate(job.template), (job.parameters ?? {}) as Mapping);
    return expanded.jobs as Mapping[];
  });
}
