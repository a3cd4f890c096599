/**
 * The part of Azure DevOps' template semantics that our data sources (vss-extension.json) and our
 * agentless tasks (src/tasks/*ServerV1/task.json) use, evaluated here so that tests can send the
 * requests Azure DevOps would send to the controller emulator and read the answers the way Azure
 * DevOps would. Azure DevOps runs these on its own servers; nothing here runs in the extension.
 *
 * Written from reference/azure-devops.md §1.4-1.6, §2.4, §3 and the public sources that
 * docs/agentless.md cites (Microsoft's own server tasks, the data source and authentication scheme
 * docs of microsoft/azure-pipelines-extensions, Newtonsoft.Json's JPath). Only the subset we use is
 * implemented; anything else throws, so that a task.json using something new fails its test
 * instead of passing by accident:
 *
 * - macros `$(name)`: task inputs, chain output variables, pipeline variables (names are
 *   case-insensitive), `endpoint.url` and `endpoint.<data key>` of the request's endpoint; an
 *   unknown macro stays as it is;
 * - mustache: `{{path}}` (HTML-escaped), `{{{path}}}` (raw), `{{#if path}}…{{else}}…{{/if}}`, and
 *   the inline `{{ #base64 arg… }}` of the basic scheme's default header;
 * - JSONPath with Json.NET's rules: `$`, `.name`, `['name']`, `[n]`, `[*]`, filters
 *   `[?(@.a.b == 'x' && … || …)]` with `==`/`!=` and single-quoted strings;
 * - expressions (task-condition syntax): `root`, `response`, `variables`, `taskInputs`,
 *   indexers, `jsonpath()`, `and or not eq ne in count isNullOrEmpty`, literals.
 */
import http from "node:http";
import https from "node:https";
import type { EndpointFixture } from "../../emulator/task-host.ts";

export type { EndpointFixture };
type Json = unknown;
type JsonObject = Record<string, unknown>;

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Case-insensitive lookup, as Azure DevOps treats variable and input names. */
function lookupIgnoringCase(map: Record<string, unknown>, key: string): unknown {
  if (key in map) return map[key];
  const lower = key.toLowerCase();
  for (const [name, value] of Object.entries(map)) if (name.toLowerCase() === lower) return value;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Macros: $(name)

export function expandMacros(text: string, lookup: (name: string) => string | undefined): string {
  return text.replace(/\$\(([^()\s]+)\)/g, (whole, name: string) => lookup(name) ?? whole);
}

// ---------------------------------------------------------------------------------------------
// Mustache subset

type MustacheNode =
  | { kind: "text"; text: string }
  | { kind: "value"; path: string; raw: boolean }
  | { kind: "base64"; args: MustacheArg[] }
  | { kind: "if"; path: string; then: MustacheNode[]; otherwise: MustacheNode[] };
type MustacheArg = { literal: string } | { path: string };

interface MustacheTag {
  start: number;
  end: number;
  raw: boolean;
  body: string;
}

function nextTag(template: string, from: number): MustacheTag | undefined {
  const start = template.indexOf("{{", from);
  if (start < 0) return undefined;
  const raw = template.startsWith("{{{", start);
  const close = raw ? "}}}" : "}}";
  const end = template.indexOf(close, start + (raw ? 3 : 2));
  if (end < 0) throw new TemplateError(`unclosed mustache tag at ${start} in ${JSON.stringify(template)}`);
  return { start, end: end + close.length, raw, body: template.slice(start + (raw ? 3 : 2), end).trim() };
}

function splitArgs(text: string): MustacheArg[] {
  const args: MustacheArg[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+)/g;
  for (const match of text.matchAll(pattern)) {
    if (match[1] !== undefined) args.push({ literal: match[1].replace(/\\(.)/g, "$1") });
    else if (match[2] !== undefined) args.push({ literal: match[2].replace(/\\(.)/g, "$1") });
    else args.push({ path: match[3] as string });
  }
  return args;
}

function parseMustache(template: string): MustacheNode[] {
  let position = 0;
  const parseUntil = (closing: string | undefined): { nodes: MustacheNode[]; stoppedAtElse: boolean } => {
    const nodes: MustacheNode[] = [];
    for (;;) {
      const tag = nextTag(template, position);
      if (!tag) {
        if (closing)
          throw new TemplateError(`{{#${closing}}} is never closed in ${JSON.stringify(template)}`);
        nodes.push({ kind: "text", text: template.slice(position) });
        return { nodes, stoppedAtElse: false };
      }
      if (tag.start > position) nodes.push({ kind: "text", text: template.slice(position, tag.start) });
      position = tag.end;
      const body = tag.body;
      if (body === "else") {
        if (closing !== "if")
          throw new TemplateError(`{{else}} outside {{#if}} in ${JSON.stringify(template)}`);
        return { nodes, stoppedAtElse: true };
      }
      if (body.startsWith("/")) {
        const name = body.slice(1).trim();
        if (name !== closing)
          throw new TemplateError(`unexpected {{/${name}}} in ${JSON.stringify(template)}`);
        return { nodes, stoppedAtElse: false };
      }
      if (body.startsWith("#")) {
        const [helper = "", ...rest] = body.slice(1).trim().split(/\s+/);
        const argText = body.slice(1).trim().slice(helper.length).trim();
        if (helper === "base64") {
          nodes.push({ kind: "base64", args: splitArgs(argText) });
          continue;
        }
        if (helper === "if") {
          if (rest.length !== 1) throw new TemplateError(`{{#if}} takes one path: {{${body}}}`);
          const then = parseUntil("if");
          const otherwise = then.stoppedAtElse ? parseUntil("if").nodes : [];
          nodes.push({ kind: "if", path: rest[0] as string, then: then.nodes, otherwise });
          continue;
        }
        throw new TemplateError(`mustache helper #${helper} is not one this project uses`);
      }
      if (!/^[A-Za-z_][\w.-]*$/.test(body)) throw new TemplateError(`unsupported mustache tag {{${body}}}`);
      nodes.push({ kind: "value", path: body, raw: tag.raw });
    }
  };
  return parseUntil(undefined).nodes;
}

/** Dotted path: an exact key first (data source parameters may contain dots), then segments. */
function resolvePath(context: unknown, path: string): unknown {
  if (isObject(context) && path in context) return context[path];
  let current: unknown = context;
  for (const segment of path.split(".")) {
    if (!isObject(current)) return undefined;
    current = current[segment];
  }
  return current;
}

function stringOf(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function handlebarsTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== undefined && value !== null && value !== false && value !== "" && value !== 0;
}

export function renderMustache(template: string, context: unknown): string {
  const render = (nodes: MustacheNode[]): string =>
    nodes
      .map((node) => {
        switch (node.kind) {
          case "text":
            return node.text;
          case "value": {
            const text = stringOf(resolvePath(context, node.path));
            return node.raw ? text : text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] as string);
          }
          case "base64": {
            const joined = node.args
              .map((arg) => ("literal" in arg ? arg.literal : stringOf(resolvePath(context, arg.path))))
              .join("");
            return Buffer.from(joined, "utf8").toString("base64");
          }
          case "if":
            return render(handlebarsTruthy(resolvePath(context, node.path)) ? node.then : node.otherwise);
        }
      })
      .join("");
  return render(parseMustache(template));
}

// ---------------------------------------------------------------------------------------------
// JSONPath, Json.NET's dialect (SelectTokens)

type PathStep =
  | { kind: "field"; name: string }
  | { kind: "index"; index: number }
  | { kind: "wildcard" }
  | { kind: "filter"; test: FilterExpression };
type FilterExpression =
  | { kind: "compare"; path: PathStep[]; op: "==" | "!=" | "exists"; value?: Json }
  | { kind: "and" | "or"; parts: FilterExpression[] };

class PathParser {
  private position = 0;
  constructor(private readonly text: string) {}

  parse(): PathStep[] {
    if (this.text.startsWith("$")) this.position = 1;
    const steps = this.steps(false);
    if (this.position !== this.text.length)
      throw new TemplateError(`JSONPath ${this.text}: unexpected ${this.text.slice(this.position)}`);
    return steps;
  }

  private fail(what: string): never {
    throw new TemplateError(`JSONPath ${this.text}: ${what} at ${this.position}`);
  }

  /** In a filter, a path ends at whitespace, an operator or ')'. */
  private steps(inFilter: boolean): PathStep[] {
    const steps: PathStep[] = [];
    // Json.NET allows a path to start with a bare name ("value[*].id").
    if (!inFilter && /[A-Za-z_]/.test(this.text[this.position] ?? "")) steps.push(this.name());
    while (this.position < this.text.length) {
      const char = this.text[this.position];
      if (char === ".") {
        this.position++;
        if (this.text[this.position] === ".") this.fail("recursive descent (..) is not supported");
        if (this.text[this.position] === "*") {
          this.position++;
          steps.push({ kind: "wildcard" });
        } else steps.push(this.name());
      } else if (char === "[") {
        steps.push(this.bracket());
      } else if (inFilter) {
        break;
      } else this.fail(`unexpected ${char}`);
    }
    return steps;
  }

  private name(): PathStep {
    const match = /^[A-Za-z_][\w-]*/.exec(this.text.slice(this.position));
    if (!match) this.fail("expected a property name");
    this.position += match[0].length;
    return { kind: "field", name: match[0] };
  }

  private bracket(): PathStep {
    this.position++; // [
    const rest = this.text.slice(this.position);
    let step: PathStep;
    if (rest.startsWith("*")) {
      this.position++;
      step = { kind: "wildcard" };
    } else if (rest.startsWith("'")) {
      step = { kind: "field", name: this.quoted() };
    } else if (rest.startsWith("?(")) {
      this.position += 2;
      step = { kind: "filter", test: this.filter() };
      this.expect(")");
    } else {
      const match = /^\d+/.exec(rest);
      if (!match) this.fail("unsupported indexer");
      this.position += match[0].length;
      step = { kind: "index", index: Number(match[0]) };
    }
    this.expect("]");
    return step;
  }

  private expect(text: string): void {
    this.skipSpace();
    if (!this.text.startsWith(text, this.position)) this.fail(`expected ${text}`);
    this.position += text.length;
  }

  private skipSpace(): void {
    while (this.text[this.position] === " ") this.position++;
  }

  /** Json.NET reads single-quoted strings with \' and \\ as the only escapes. */
  private quoted(): string {
    this.position++; // '
    let value = "";
    while (this.position < this.text.length) {
      const char = this.text[this.position] as string;
      if (char === "\\") {
        const next = this.text[this.position + 1];
        if (next !== "'" && next !== "\\") this.fail(`unknown escape \\${next}`);
        value += next;
        this.position += 2;
      } else if (char === "'") {
        this.position++;
        return value;
      } else {
        value += char;
        this.position++;
      }
    }
    return this.fail("unterminated string");
  }

  /** `a && b || c`: && binds tighter, as in Json.NET's composite expressions. */
  private filter(): FilterExpression {
    const ors: FilterExpression[] = [];
    let ands: FilterExpression[] = [this.comparison()];
    for (;;) {
      this.skipSpace();
      if (this.text.startsWith("&&", this.position)) {
        this.position += 2;
        ands.push(this.comparison());
      } else if (this.text.startsWith("||", this.position)) {
        this.position += 2;
        ors.push(ands.length === 1 ? (ands[0] as FilterExpression) : { kind: "and", parts: ands });
        ands = [this.comparison()];
      } else break;
    }
    ors.push(ands.length === 1 ? (ands[0] as FilterExpression) : { kind: "and", parts: ands });
    return ors.length === 1 ? (ors[0] as FilterExpression) : { kind: "or", parts: ors };
  }

  private comparison(): FilterExpression {
    this.skipSpace();
    if (this.text[this.position] !== "@") this.fail("a filter compares @-paths");
    this.position++;
    const path = this.steps(true);
    this.skipSpace();
    const op = ["==", "!="].find((candidate) => this.text.startsWith(candidate, this.position));
    if (!op) return { kind: "compare", path, op: "exists" };
    this.position += 2;
    this.skipSpace();
    return { kind: "compare", path, op: op as "==" | "!=", value: this.value() };
  }

  private value(): Json {
    const rest = this.text.slice(this.position);
    if (rest.startsWith("'")) return this.quoted();
    for (const [word, value] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (rest.startsWith(word)) {
        this.position += word.length;
        return value;
      }
    }
    const number = /^-?\d+(\.\d+)?/.exec(rest);
    if (!number) this.fail("unsupported value (strings are single-quoted in Json.NET)");
    this.position += number[0].length;
    return Number(number[0]);
  }
}

function applySteps(tokens: Json[], steps: PathStep[]): Json[] {
  let current = tokens;
  for (const step of steps) {
    const next: Json[] = [];
    for (const token of current) {
      if (step.kind === "field") {
        if (isObject(token) && step.name in token) next.push(token[step.name]);
      } else if (step.kind === "index") {
        if (Array.isArray(token) && step.index < token.length) next.push(token[step.index]);
      } else if (step.kind === "wildcard") {
        if (Array.isArray(token)) next.push(...token);
        else if (isObject(token)) next.push(...Object.values(token));
      } else if (Array.isArray(token)) {
        next.push(...token.filter((item) => filterMatches(step.test, item)));
      }
    }
    current = next;
  }
  return current;
}

function filterMatches(test: FilterExpression, item: Json): boolean {
  if (test.kind !== "compare")
    return test.kind === "and"
      ? test.parts.every((part) => filterMatches(part, item))
      : test.parts.some((part) => filterMatches(part, item));
  const found = applySteps([item], test.path);
  if (test.op === "exists") return found.length > 0;
  // Json.NET: a path that matches nothing satisfies neither == nor != .
  return found.some((value) =>
    test.op === "==" ? jsonEquals(value, test.value) : !jsonEquals(value, test.value),
  );
}

function jsonEquals(left: Json, right: Json): boolean {
  if (left === null || right === null) return left === right;
  if (typeof left === "number" || typeof right === "number") return Number(left) === Number(right);
  return left === right;
}

export function selectJsonPath(document: Json, path: string): Json[] {
  return applySteps([document], new PathParser(path).parse());
}

// ---------------------------------------------------------------------------------------------
// Expressions (task-condition syntax) for Expression, OutputVariables, SkipSectionExpression,
// ContinuePollingExpression.

type Expr =
  | { kind: "literal"; value: Json }
  | { kind: "name"; name: string }
  | { kind: "call"; name: string; args: Expr[] }
  | { kind: "index"; target: Expr; key: Expr };

class ExpressionParser {
  private position = 0;
  constructor(private readonly text: string) {}

  parse(): Expr {
    const expr = this.expression();
    this.skipSpace();
    if (this.position !== this.text.length) this.fail("unexpected text");
    return expr;
  }

  private fail(what: string): never {
    throw new TemplateError(`expression ${this.text}: ${what} at ${this.position}`);
  }

  private skipSpace(): void {
    while (/\s/.test(this.text[this.position] ?? "")) this.position++;
  }

  private expression(): Expr {
    this.skipSpace();
    let expr = this.primary();
    for (;;) {
      this.skipSpace();
      if (this.text[this.position] !== "[") return expr;
      this.position++;
      const key = this.expression();
      this.skipSpace();
      if (this.text[this.position] !== "]") this.fail("expected ]");
      this.position++;
      expr = { kind: "index", target: expr, key };
    }
  }

  private primary(): Expr {
    const rest = this.text.slice(this.position);
    if (rest.startsWith("'")) {
      // 'It''s': a single quote is doubled inside a string.
      let value = "";
      let index = 1;
      for (;;) {
        const quote = rest.indexOf("'", index);
        if (quote < 0) this.fail("unterminated string");
        value += rest.slice(index, quote);
        if (rest[quote + 1] === "'") {
          value += "'";
          index = quote + 2;
        } else {
          this.position += quote + 1;
          return { kind: "literal", value };
        }
      }
    }
    const number = /^-?\d+(\.\d+)?/.exec(rest);
    if (number) {
      this.position += number[0].length;
      return { kind: "literal", value: Number(number[0]) };
    }
    const word = /^[A-Za-z_][\w.]*/.exec(rest);
    if (!word) this.fail("expected a value");
    this.position += word[0].length;
    const name = word[0];
    if (/^(true|false)$/i.test(name)) return { kind: "literal", value: name.toLowerCase() === "true" };
    if (/^null$/i.test(name)) return { kind: "literal", value: null };
    this.skipSpace();
    if (this.text[this.position] !== "(") return { kind: "name", name };
    this.position++;
    const args: Expr[] = [];
    this.skipSpace();
    if (this.text[this.position] === ")") this.position++;
    else
      for (;;) {
        args.push(this.expression());
        this.skipSpace();
        const char = this.text[this.position++];
        if (char === ")") break;
        if (char !== ",") this.fail("expected , or )");
      }
    return { kind: "call", name, args };
  }
}

export interface ExpressionContext {
  /** The parsed response body; null when it is not JSON. */
  root?: Json;
  response?: { statuscode: string; headers: Record<string, string>; content: Json };
  variables?: Record<string, string>;
  taskInputs?: Record<string, string>;
}

function truthy(value: Json): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0 && !Number.isNaN(value);
  if (typeof value === "string") return value.length > 0;
  return true;
}

/** Azure Pipelines' eq: strings ignore case; the right side converts to the left side's type. */
function expressionEquals(left: Json, right: Json): boolean {
  if (left === null || left === undefined) return right === null || right === undefined;
  if (typeof left === "number") return left === Number(right);
  if (typeof left === "boolean")
    return left === (typeof right === "string" ? /^true$/i.test(right) : truthy(right));
  if (typeof left === "string") return right !== null && left.toLowerCase() === String(right).toLowerCase();
  return left === right;
}

export function evaluateExpression(text: string, context: ExpressionContext): Json {
  const evaluate = (expr: Expr): Json => {
    switch (expr.kind) {
      case "literal":
        return expr.value;
      case "name": {
        const name = expr.name.toLowerCase();
        if (name === "root") return context.root ?? null;
        if (name === "response") return (context.response as Json) ?? null;
        if (name === "variables") return context.variables ?? {};
        if (name === "taskinputs") return context.taskInputs ?? {};
        throw new TemplateError(`expression ${text}: unknown name ${expr.name}`);
      }
      case "index": {
        const target = evaluate(expr.target);
        const key = evaluate(expr.key);
        if (Array.isArray(target)) return typeof key === "number" ? (target[key] ?? null) : null;
        if (isObject(target)) return lookupIgnoringCase(target, String(key)) ?? null;
        return null;
      }
      case "call": {
        const args = () => expr.args.map(evaluate);
        const arity = (n: number) => {
          if (expr.args.length !== n) throw new TemplateError(`expression ${text}: ${expr.name} takes ${n}`);
        };
        switch (expr.name.toLowerCase()) {
          case "and":
            return expr.args.every((arg) => truthy(evaluate(arg)));
          case "or":
            return expr.args.some((arg) => truthy(evaluate(arg)));
          case "not":
            arity(1);
            return !truthy(evaluate(expr.args[0] as Expr));
          case "eq": {
            arity(2);
            const [left, right] = args();
            return expressionEquals(left, right);
          }
          case "ne": {
            arity(2);
            const [left, right] = args();
            return !expressionEquals(left, right);
          }
          case "in": {
            const [needle, ...haystack] = args();
            return haystack.some((candidate) => expressionEquals(needle, candidate));
          }
          case "count": {
            arity(1);
            const [value] = args();
            if (Array.isArray(value)) return value.length;
            if (isObject(value)) return Object.keys(value).length;
            return 0;
          }
          case "isnullorempty": {
            arity(1);
            const [value] = args();
            return value === null || value === undefined || value === "";
          }
          case "jsonpath": {
            arity(1);
            const [path] = args();
            if (typeof path !== "string")
              throw new TemplateError(`expression ${text}: jsonpath takes a string`);
            return selectJsonPath(context.root ?? null, path);
          }
          default:
            throw new TemplateError(`expression ${text}: function ${expr.name} is not one this project uses`);
        }
      }
    }
  };
  return evaluate(new ExpressionParser(text).parse());
}

export const evaluateCondition = (text: string, context: ExpressionContext): boolean =>
  truthy(evaluateExpression(text, context));

// ---------------------------------------------------------------------------------------------
// HTTP, as Azure DevOps' servers would send it

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface ReceivedResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export type Send = (request: SentRequest) => Promise<ReceivedResponse>;

export const sendHttp: Send = (request) =>
  new Promise((resolve, reject) => {
    const url = new URL(request.url);
    const client = url.protocol === "https:" ? https : http;
    const headers = { ...request.headers };
    if (request.body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(request.body));
    const req = client.request(url, { method: request.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: Object.fromEntries(
            Object.entries(res.headers).map(([name, value]) => [name.toLowerCase(), String(value)]),
          ),
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(request.body);
  });

const STATUS_NAMES: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "NoContent",
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  500: "InternalServerError",
  502: "BadGateway",
  503: "ServiceUnavailable",
};

function parseJson(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoint types: authentication headers and data sources

/** Runtime scheme names (ENDPOINT_AUTH_SCHEME) and the contribution types they come from. */
const SCHEME_TYPES: Record<string, string> = {
  None: "ms.vss-endpoint.endpoint-auth-scheme-none",
  UsernamePassword: "ms.vss-endpoint.endpoint-auth-scheme-basic",
  Certificate: "ms.vss-endpoint.endpoint-auth-scheme-cert",
  Token: "ms.vss-endpoint.endpoint-auth-scheme-token",
};

/** The built-in schemes' default headers (authenticationSchemes.md); cert and none send none. */
const DEFAULT_SCHEME_HEADERS: Record<string, { name: string; value: string }[]> = {
  "ms.vss-endpoint.endpoint-auth-scheme-basic": [
    { name: "Authorization", value: 'Basic {{ #base64 endpoint.username ":" endpoint.password }}' },
  ],
  "ms.vss-endpoint.endpoint-auth-scheme-token": [{ name: "Authorization", value: "{{endpoint.apitoken}}" }],
};

export interface EndpointType {
  name: string;
  authenticationSchemes: { type: string; headers?: { name: string; value: string }[] }[];
  dataSources?: DataSource[];
}

export interface DataSource {
  name: string;
  endpointUrl: string;
  resultSelector?: string;
  requestVerb?: string;
}

export function authorizationHeaders(type: EndpointType, endpoint: EndpointFixture): Record<string, string> {
  const schemeType = SCHEME_TYPES[endpoint.scheme];
  if (!schemeType) throw new TemplateError(`unknown scheme ${endpoint.scheme}`);
  const scheme = type.authenticationSchemes.find((candidate) => candidate.type === schemeType);
  if (!scheme) throw new TemplateError(`${type.name} has no ${schemeType}`);
  const context = { endpoint: { url: endpoint.url, ...endpoint.data, ...endpoint.parameters } };
  const headers: Record<string, string> = {};
  for (const header of scheme.headers ?? DEFAULT_SCHEME_HEADERS[schemeType] ?? [])
    headers[header.name] = renderMustache(header.value, context);
  return headers;
}

export interface DataSourceResult {
  request: SentRequest;
  status: number;
  /** TestConnection (Verify) passes on HTTP 200 only; the selector is not used for it. */
  ok: boolean;
  /** The tokens the resultSelector picked. */
  selected: Json[];
  /** With a resultTemplate: each token rendered and parsed, as a picklist item. */
  items: { Value: string; DisplayValue: string }[];
}

export async function runDataSource(options: {
  type: EndpointType;
  endpoint: EndpointFixture;
  dataSourceName: string;
  parameters?: Record<string, string>;
  resultTemplate?: string;
  send?: Send;
}): Promise<DataSourceResult> {
  const { type, endpoint, parameters = {} } = options;
  const source = type.dataSources?.find((candidate) => candidate.name === options.dataSourceName);
  if (!source) throw new TemplateError(`${type.name} has no data source ${options.dataSourceName}`);
  const endpointValues = { url: endpoint.url, ...endpoint.data };
  const url = renderMustache(
    expandMacros(source.endpointUrl, (name) =>
      name.toLowerCase().startsWith("endpoint.")
        ? stringOf(lookupIgnoringCase(endpointValues, name.slice("endpoint.".length)))
        : (lookupIgnoringCase(parameters, name) as string | undefined),
    ),
    { ...parameters, endpoint: endpointValues },
  );
  const request: SentRequest = {
    method: (source.requestVerb ?? "GET").toUpperCase(),
    url,
    headers: { Accept: "application/json", ...authorizationHeaders(type, endpoint) },
  };
  const response = await (options.send ?? sendHttp)(request);
  const ok = response.status === 200;
  const document = parseJson(response.text);
  const selector = source.resultSelector ?? "none";
  let selected: Json[] = [];
  if (ok && selector.startsWith("jsonpath:")) selected = selectJsonPath(document, selector.slice(9));
  else if (ok && selector !== "none") throw new TemplateError(`resultSelector ${selector} is not supported`);
  const items = options.resultTemplate
    ? selected.map((token) => {
        const rendered = renderMustache(options.resultTemplate as string, token);
        const item = JSON.parse(rendered) as { Value: string; DisplayValue: string };
        if (typeof item.Value !== "string" || typeof item.DisplayValue !== "string")
          throw new TemplateError(`resultTemplate must give Value and DisplayValue: ${rendered}`);
        return item;
      })
    : [];
  return { request, status: response.status, ok, selected, items };
}

// ---------------------------------------------------------------------------------------------
// task.json: inputs, data source bindings, agentless execution

export interface TaskInput {
  name: string;
  type: string;
  defaultValue?: string | boolean;
}

export interface DataSourceBinding {
  target: string;
  endpointId: string;
  dataSourceName: string;
  parameters?: Record<string, string>;
  resultTemplate?: string;
}

export interface RequestInputs {
  EndpointId?: string;
  EndpointUrl: string;
  Method: string;
  Body?: string;
  Headers?: string;
  WaitForCompletion?: string;
  Expression?: string;
}

export interface ExecutionOptions {
  OutputVariables?: Record<string, string> | string;
  SkipSectionExpression?: string;
  ContinuePollingExpression?: string;
  DurationBetweenRetries?: string;
}

export interface TaskJson {
  name: string;
  inputs: TaskInput[];
  dataSourceBindings?: DataSourceBinding[];
  execution: {
    HttpRequest?: { Execute: RequestInputs };
    HttpRequestChain?: { Execute: { RequestInputs: RequestInputs; ExecutionOptions?: ExecutionOptions }[] };
  };
}

/** Input values as Azure DevOps hands them to a task: defaults filled in, macros expanded. */
export function resolveInputs(
  task: TaskJson,
  given: Record<string, string>,
  variables: Record<string, string>,
): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const input of task.inputs) {
    const raw = lookupIgnoringCase(given, input.name) ?? input.defaultValue ?? "";
    inputs[input.name] = expandMacros(String(raw), (name) => lookupIgnoringCase(variables, name) as string);
  }
  for (const name of Object.keys(given))
    if (!task.inputs.some((input) => input.name.toLowerCase() === name.toLowerCase()))
      throw new TemplateError(`${task.name} has no input ${name}`);
  return inputs;
}

/** A picklist as the task editor fills it: the binding's parameters come from the other inputs. */
export function runBinding(options: {
  task: TaskJson;
  target: string;
  inputs: Record<string, string>;
  type: EndpointType;
  endpoint: EndpointFixture;
  send?: Send;
}): Promise<DataSourceResult> {
  const binding = options.task.dataSourceBindings?.find((candidate) => candidate.target === options.target);
  if (!binding) throw new TemplateError(`${options.task.name} binds nothing to ${options.target}`);
  const parameters = Object.fromEntries(
    Object.entries(binding.parameters ?? {}).map(([name, value]) => [
      name,
      expandMacros(value, (input) => lookupIgnoringCase(options.inputs, input) as string | undefined),
    ]),
  );
  return runDataSource({
    type: options.type,
    endpoint: options.endpoint,
    dataSourceName: binding.dataSourceName,
    parameters,
    ...(binding.resultTemplate ? { resultTemplate: binding.resultTemplate } : {}),
    ...(options.send ? { send: options.send } : {}),
  });
}

export interface StepRun {
  index: number;
  skipped: boolean;
  requests: SentRequest[];
  responses: ReceivedResponse[];
  /** Expression's value on the last response; true when there is no Expression. */
  passed?: boolean;
  outputs: Record<string, string>;
}

export interface ServerTaskRun {
  result: "succeeded" | "failed";
  /** Why it failed: the step, the HTTP status or the Expression. */
  reason?: string;
  steps: StepRun[];
  /** The chain's output variables at the end. */
  variables: Record<string, string>;
}

/** "hh:mm:ss" as DurationBetweenRetries and the Events timeouts write it. */
export function parseTimeSpan(text: string): number {
  const match = /^(\d+):(\d{2}):(\d{2})$/.exec(text.trim());
  if (!match) throw new TemplateError(`not a hh:mm:ss duration: ${text}`);
  return ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1000;
}

/**
 * Runs an agentless task's HttpRequest or HttpRequestChain: each section in order, skipped when its
 * SkipSectionExpression holds; its request rendered (macros, then mustache over the task inputs),
 * with the auth header of EndpointId's scheme; repeated while ContinuePollingExpression holds;
 * passed when the status is 2xx and Expression holds; its OutputVariables visible to later sections.
 */
export async function runServerTask(options: {
  task: TaskJson;
  inputs: Record<string, string>;
  variables: Record<string, string>;
  endpointType: EndpointType;
  endpoints: EndpointFixture[];
  send?: Send;
  /** Called with DurationBetweenRetries in ms; tests pass a short sleep. */
  sleep?: (ms: number) => Promise<void>;
  maxPolls?: number;
}): Promise<ServerTaskRun> {
  const { task, endpointType } = options;
  const send = options.send ?? sendHttp;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const inputs = resolveInputs(task, options.inputs, options.variables);
  const sections = task.execution.HttpRequestChain
    ? task.execution.HttpRequestChain.Execute
    : task.execution.HttpRequest
      ? [{ RequestInputs: task.execution.HttpRequest.Execute }]
      : undefined;
  if (!sections) throw new TemplateError(`${task.name} has no HttpRequest or HttpRequestChain`);
  const chainVariables: Record<string, string> = {};
  const steps: StepRun[] = [];

  const macroLookup = (endpoint: EndpointFixture | undefined) => (name: string) => {
    if (name.toLowerCase().startsWith("endpoint.")) {
      if (!endpoint) return undefined;
      const key = name.slice("endpoint.".length);
      if (key.toLowerCase() === "url") return endpoint.url;
      return lookupIgnoringCase(endpoint.data, key) as string | undefined;
    }
    return (lookupIgnoringCase(inputs, name) ??
      lookupIgnoringCase(chainVariables, name) ??
      lookupIgnoringCase(options.variables, name)) as string | undefined;
  };
  const context = (): ExpressionContext => ({
    taskInputs: inputs,
    variables: { ...options.variables, ...chainVariables },
  });

  for (const [index, section] of sections.entries()) {
    const step: StepRun = { index, skipped: false, requests: [], responses: [], outputs: {} };
    steps.push(step);
    const execution = section.ExecutionOptions ?? {};
    const plain = macroLookup(undefined);
    if (execution.SkipSectionExpression) {
      if (evaluateCondition(expandMacros(execution.SkipSectionExpression, plain), context())) {
        step.skipped = true;
        continue;
      }
    }
    const spec = section.RequestInputs;
    const endpointId = expandMacros(spec.EndpointId ?? "", plain);
    const endpoint = endpointId
      ? options.endpoints.find((candidate) => candidate.id === endpointId)
      : undefined;
    if (endpointId && !endpoint) throw new TemplateError(`section ${index}: no endpoint ${endpointId}`);
    const lookup = macroLookup(endpoint);
    const render = (text: string | undefined) => renderMustache(expandMacros(text ?? "", lookup), inputs);
    const headersText = render(spec.Headers).trim();
    const request: SentRequest = {
      method: render(spec.Method).toUpperCase(),
      url: render(spec.EndpointUrl),
      headers: {
        ...(headersText ? (JSON.parse(headersText) as Record<string, string>) : {}),
        ...(endpoint ? authorizationHeaders(endpointType, endpoint) : {}),
      },
    };
    const body = render(spec.Body);
    if (body) request.body = body;

    let response: ReceivedResponse;
    let responseContext: ExpressionContext;
    for (let poll = 0; ; poll++) {
      step.requests.push(request);
      response = await send(request);
      step.responses.push(response);
      const content = parseJson(response.text);
      responseContext = {
        ...context(),
        root: content,
        response: {
          statuscode: STATUS_NAMES[response.status] ?? String(response.status),
          headers: response.headers,
          content,
        },
      };
      const continuePolling =
        execution.ContinuePollingExpression &&
        evaluateCondition(expandMacros(execution.ContinuePollingExpression, lookup), responseContext);
      if (!continuePolling) break;
      if (poll + 1 >= (options.maxPolls ?? 1000)) throw new TemplateError(`section ${index} polled forever`);
      await sleep(parseTimeSpan(expandMacros(execution.DurationBetweenRetries ?? "00:00:00", lookup)));
    }
    const succeededHttp = response.status >= 200 && response.status < 300;
    step.passed = spec.Expression
      ? evaluateCondition(expandMacros(spec.Expression, lookup), responseContext)
      : true;
    if (!succeededHttp || !step.passed) {
      return {
        result: "failed",
        reason: !succeededHttp
          ? `section ${index}: HTTP ${response.status} ${response.text.slice(0, 200)}`
          : `section ${index}: Expression ${spec.Expression} is false`,
        steps,
        variables: chainVariables,
      };
    }
    const outputs =
      typeof execution.OutputVariables === "string"
        ? (JSON.parse(execution.OutputVariables) as Record<string, string>)
        : (execution.OutputVariables ?? {});
    for (const [name, expression] of Object.entries(outputs)) {
      const value = stringOf(evaluateExpression(expandMacros(expression, lookup), responseContext));
      chainVariables[name] = value;
      step.outputs[name] = value;
    }
  }
  return { result: "succeeded", steps, variables: chainVariables };
}
