import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  authorizationHeaders,
  evaluateCondition,
  evaluateExpression,
  expandMacros,
  parseTimeSpan,
  renderMustache,
  selectJsonPath,
  TemplateError,
  type EndpointType,
} from "../helpers/azdo-templates.ts";

/** The evaluator the agentless and data source tests stand on, against the documented examples. */
describe("macros $(name)", () => {
  const lookup = (name: string) => ({ template: "sonoma-14", "build.buildid": "42" })[name.toLowerCase()];
  test("known names expand, unknown ones stay for later", () => {
    assert.equal(expandMacros("$(template)/$(Build.BuildId)/$(nope)", lookup), "sonoma-14/42/$(nope)");
  });
});

describe("mustache", () => {
  test("{{{x}}} is raw, {{x}} is HTML-escaped, dotted paths reach into objects", () => {
    const context = { endpoint: { url: "https://ctl:8090" }, name: `a"b<c` };
    assert.equal(renderMustache("{{{endpoint.url}}}/x", context), "https://ctl:8090/x");
    assert.equal(renderMustache("{{name}}|{{{name}}}", context), `a&quot;b&lt;c|a"b<c`);
  });

  test("#if / else over an input, as Microsoft's server tasks write it", () => {
    const template = `{"a": 1{{#if tag}}, "tag": "x"{{/if}}}|{{#if tag}}T{{else}}F{{/if}}`;
    assert.equal(renderMustache(template, { tag: "" }), `{"a": 1}|F`);
    assert.equal(renderMustache(template, { tag: "base" }), `{"a": 1, "tag": "x"}|T`);
  });

  test("the basic scheme's default header (authenticationSchemes.md) is Basic base64(user:password)", () => {
    const type: EndpointType = {
      name: "T",
      authenticationSchemes: [{ type: "ms.vss-endpoint.endpoint-auth-scheme-basic" }],
    };
    const headers = authorizationHeaders(type, {
      id: "e",
      url: "http://x",
      scheme: "UsernamePassword",
      parameters: { username: "root", password: "s3cret-token" },
      data: {},
    });
    assert.equal(headers.Authorization, `Basic ${Buffer.from("root:s3cret-token").toString("base64")}`);
  });

  test("helpers this project does not use, and broken tags, throw", () => {
    assert.throws(() => renderMustache("{{#each items}}x{{/each}}", {}), TemplateError);
    assert.throws(() => renderMustache("{{#if a}}x", {}), /never closed/);
    assert.throws(() => renderMustache("{{name", {}), /unclosed/);
  });
});

describe("JSONPath (Json.NET's dialect)", () => {
  const envelope = {
    status: "OK",
    body: [
      { id: "1", name: "sonoma-14", vm: { instance_state: "Started" }, external_id: "42-ios" },
      { id: "2", name: "it's", vm: { instance_state: "Terminated" }, external_id: "42-ios" },
      { id: "3", name: "ventura", vm: { instance_state: "Started" }, external_id: null },
    ],
  };

  test("selectors of our data sources", () => {
    assert.deepEqual(
      selectJsonPath(envelope, "$.body[*]").map((t) => (t as { id: string }).id),
      ["1", "2", "3"],
    );
    assert.deepEqual(
      selectJsonPath({ body: { versions: [{ tag: "a" }, { tag: "b" }] } }, "$.body.versions[*].tag"),
      ["a", "b"],
    );
    assert.deepEqual(selectJsonPath(envelope, "$.status"), ["OK"]);
    assert.deepEqual(selectJsonPath(envelope, "body[0]['name']"), ["sonoma-14"]);
  });

  test("filters: && binds tighter than ||, strings are single-quoted with \\' escapes", () => {
    const ids = (path: string) => selectJsonPath(envelope, path).map((t) => (t as { id: string }).id ?? t);
    assert.deepEqual(ids("$.body[?(@.external_id == '42-ios' && @.vm.instance_state != 'Terminated')].id"), [
      "1",
    ]);
    assert.deepEqual(ids("$.body[?(@.name == 'ventura' || @.id == '1')].id"), ["1", "3"]);
    assert.deepEqual(ids("$.body[?(@.name == 'it\\'s')].id"), ["2"]);
    // A missing path satisfies neither == nor !=; a null value is a value.
    assert.deepEqual(ids("$.body[?(@.nothing != 'x')].id"), []);
    assert.deepEqual(ids("$.body[?(@.external_id != '42-ios')].id"), ["3"]);
  });

  test("a wrong path selects nothing; syntax outside the subset throws", () => {
    assert.deepEqual(selectJsonPath(envelope, "$.bodies[*]"), []);
    assert.throws(() => selectJsonPath(envelope, "$..id"), /recursive descent/);
    assert.throws(() => selectJsonPath(envelope, `$.body[?(@.name == "x")]`), /single-quoted/);
  });
});

describe("expressions (task-condition syntax)", () => {
  const root = { status: "OK", body: [{ instance_id: "i-1", external_id: "42" }], value: [{ id: 10 }] };
  const context = {
    root,
    response: { statuscode: "OK", headers: { location: "http://x" }, content: root },
    variables: { ANKA_INSTANCE_ID: "i-1", EMPTY: "" },
    taskInputs: { instanceId: "", removeAgent: "true" },
  };

  test("the servertaskauthoring.md example: eq(root['status'], 'successful')", () => {
    assert.equal(
      evaluateCondition("eq(root['status'], 'successful')", { root: { status: "successful" } }),
      true,
    );
  });

  test("what our tasks use", () => {
    assert.equal(
      evaluateCondition("eq(root['status'], 'ok')", context),
      true,
      "strings compare ignoring case",
    );
    assert.equal(evaluateCondition("eq(response['statuscode'], 'OK')", context), true);
    assert.equal(evaluateCondition("eq(count(root['value']), 1)", context), true);
    assert.equal(evaluateCondition("isNullOrEmpty(taskInputs['instanceId'])", context), true);
    assert.equal(evaluateCondition("isNullOrEmpty(variables['missing'])", context), true);
    assert.equal(evaluateCondition("eq(isNullOrEmpty(variables['ANKA_INSTANCE_ID']), false)", context), true);
    assert.equal(
      evaluateCondition(
        "or(eq(taskInputs['removeAgent'], 'false'), isNullOrEmpty(variables['EMPTY']))",
        context,
      ),
      true,
    );
    assert.equal(evaluateCondition("in(root['status'], 'Scheduling', 'OK')", context), true);
    assert.equal(evaluateExpression("jsonpath('$.value[0].id')[0]", context), 10);
    assert.equal(evaluateExpression("jsonpath('$.value[5].id')[0]", context), null, "out of range is null");
    assert.equal(
      evaluateExpression("jsonpath('$.body[?(@.external_id == ''42'')].instance_id')[0]", context),
      "i-1",
      "'' is a quote inside a string",
    );
  });

  test("unknown functions and names throw instead of passing", () => {
    assert.throws(
      () => evaluateExpression("startsWith(root['status'], 'O')", context),
      /not one this project uses/,
    );
    assert.throws(() => evaluateExpression("eq(rot['status'], 'OK')", context), /unknown name rot/);
    assert.throws(() => evaluateExpression("eq(root['status'], 'OK'", context), TemplateError);
  });

  test("hh:mm:ss durations", () => {
    assert.equal(parseTimeSpan("00:02:00"), 120_000);
    assert.throws(() => parseTimeSpan("2m"), /hh:mm:ss/);
  });
});
