import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import fc from "fast-check";
import { openEnvelope } from "../../src/anka/envelope.ts";
import {
  ControllerError,
  parseInstance,
  parseInstanceList,
  parseStatus,
  parseTemplate,
} from "../../src/anka/index.ts";
import { ShapeProblem } from "../../src/anka/shape.ts";
import {
  agentNameFor,
  renderBuiltInStartupScript,
  renderCustomStartupScript,
  shellQuote,
  validateBootstrapValues,
  type BootstrapValues,
} from "../../src/bootstrap/index.ts";
import { STARTUP_SCRIPT_VARIABLES, startupScriptVariableValues } from "../../src/bootstrap/variables.ts";
import { startupScriptAssignments } from "../../emulator/light-runner.ts";
import { POSIX_SHELLS, SHELL_NAMES, shellLabel, type ShellName } from "../../emulator/sandbox/index.ts";

/**
 * Properties over generated input: what the controller may answer never crashes the parsers (it
 * becomes a typed value or an error that says what was wrong), and any text survives the shell
 * quoting of the startup script, for real in every POSIX shell (emulator/sandbox/shells.ts). Runs
 * are kept moderate: a few seconds in all.
 */

// ---- (a) the controller's answers -------------------------------------------------------------

/** A JSON value as the client sees it: through JSON.parse, never with a null prototype. */
const parsedJson = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown);
const anyField = fc.oneof(parsedJson, fc.constant(undefined));

/** Objects shaped like the controller's instances, with every field of any type (or right). */
const instanceLike = fc.record(
  {
    instance_id: fc.oneof(fc.uuid(), anyField),
    instance_state: fc.oneof(fc.constantFrom("Scheduling", "Pulling", "Started", "Error"), anyField),
    message: anyField,
    vmid: fc.oneof(fc.uuid(), anyField),
    tag: anyField,
    version: fc.oneof(fc.integer(), anyField),
    progress: fc.oneof(fc.double(), anyField),
    node_id: anyField,
    external_id: anyField,
    metadata: fc.oneof(fc.dictionary(fc.string(), parsedJson), anyField),
    vminfo: fc.oneof(
      anyField,
      fc.record(
        {
          ip: anyField,
          status: anyField,
          cpu_cores: anyField,
          port_forwarding: fc.oneof(
            anyField,
            fc.array(
              fc.record(
                { guest_port: anyField, host_port: anyField, protocol: anyField },
                { requiredKeys: [] },
              ),
            ),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    startup_script: fc.oneof(
      anyField,
      fc.record(
        {
          return_code: anyField,
          did_timeout: anyField,
          stdout: anyField,
          stderr: anyField,
          errors: anyField,
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);

const listLike = fc.oneof(
  parsedJson,
  fc.array(
    fc.record(
      {
        instance_id: fc.oneof(fc.uuid(), anyField),
        external_id: anyField,
        name: anyField,
        vm: fc.oneof(instanceLike, anyField),
      },
      { requiredKeys: [] },
    ),
  ),
);

const templateLike = fc.oneof(
  parsedJson,
  fc.record(
    {
      id: fc.oneof(fc.uuid(), anyField),
      name: fc.oneof(fc.string(), anyField),
      arch: anyField,
      size: anyField,
      versions: fc.oneof(
        anyField,
        fc.array(
          fc.record(
            { number: anyField, tag: fc.oneof(fc.string(), anyField), description: anyField },
            { requiredKeys: [] },
          ),
        ),
      ),
    },
    { requiredKeys: [] },
  ),
);

const statusLike = fc.oneof(
  parsedJson,
  fc.record(
    {
      status: fc.oneof(fc.constant("Running"), anyField),
      version: anyField,
      registry_address: anyField,
      license: anyField,
    },
    { requiredKeys: [] },
  ),
);

/** A parse either returns or throws a ShapeProblem with a message; a TypeError or the like is a bug. */
function parsesOrNamesTheProblem<T>(parse: (value: unknown) => T, check: (result: T) => void) {
  return (value: unknown) => {
    let result: T;
    try {
      result = parse(value);
    } catch (error) {
      assert.ok(
        error instanceof ShapeProblem,
        `not a ShapeProblem: ${(error as Error)?.stack ?? String(error)}`,
      );
      assert.match(error.message, /\S/);
      return;
    }
    check(result);
  };
}

const RUNS = { numRuns: 300 };

describe("properties: parsing whatever the controller answers", () => {
  test("parseInstance: an instance with a state, or a ShapeProblem", () => {
    fc.assert(
      fc.property(
        fc.oneof(parsedJson, instanceLike),
        parsesOrNamesTheProblem(parseInstance, (instance) => {
          assert.equal(typeof instance.state, "string");
          assert.equal(typeof instance.progress, "number");
          assert.equal(typeof instance.id, "string");
          if (instance.vminfo) assert.equal(typeof instance.vminfo.ip, "string");
        }),
      ),
      RUNS,
    );
  });

  test("parseInstanceList: instances with ids, or a ShapeProblem", () => {
    fc.assert(
      fc.property(
        listLike,
        parsesOrNamesTheProblem(parseInstanceList, (instances) => {
          assert.ok(Array.isArray(instances));
          for (const instance of instances) assert.equal(typeof instance.id, "string");
        }),
      ),
      RUNS,
    );
  });

  test("parseTemplate: a template with tagged versions, or a ShapeProblem", () => {
    fc.assert(
      fc.property(
        templateLike,
        parsesOrNamesTheProblem(parseTemplate, (template) => {
          assert.equal(typeof template.id, "string");
          for (const version of template.versions) assert.equal(typeof version.tag, "string");
        }),
      ),
      RUNS,
    );
  });

  test("parseStatus: a status, or a ShapeProblem", () => {
    fc.assert(
      fc.property(
        statusLike,
        parsesOrNamesTheProblem(parseStatus, (status) => assert.equal(typeof status.status, "string")),
      ),
      RUNS,
    );
  });

  test("openEnvelope: the body of an OK envelope, or a controller error with a message", () => {
    const request = { method: "GET", url: "http://127.0.0.1:8090/api/v1/vm" };
    const envelopeLike = fc
      .record(
        {
          status: fc.oneof(fc.constantFrom("OK", "FAIL", "ERROR"), anyField),
          message: anyField,
          body: anyField,
        },
        { requiredKeys: [] },
      )
      .map((envelope) => JSON.stringify(envelope));
    const text = fc.oneof(
      fc.json(),
      envelopeLike,
      fc.string({ unit: "binary" }),
      fc.constantFrom("", " ", "<html><body>502 Bad Gateway</body></html>", '{"status":"OK","body":[{"inst'),
    );
    const status = fc.oneof(
      fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 500, 502, 503, 504),
      fc.integer({ min: 100, max: 599 }),
    );
    fc.assert(
      fc.property(text, status, (body, code) => {
        try {
          openEnvelope(request, { status: code, headers: {}, text: body });
        } catch (error) {
          assert.ok(
            error instanceof ControllerError,
            `not a ControllerError: ${(error as Error)?.stack ?? String(error)}`,
          );
          assert.match(error.message, /Anka controller/);
          return;
        }
        // Only an OK envelope with a success code gets through.
        const parsed = JSON.parse(body) as { status?: unknown };
        assert.equal(parsed.status, "OK");
        assert.ok(code < 400);
      }),
      { numRuns: 500 },
    );
  });
});

// ---- (b) quoting for sh ------------------------------------------------------------------------

/** Every character sh treats specially, and a few that are not ASCII. */
const SHELL_SPECIAL = [
  "'",
  '"',
  "$",
  "`",
  "\\",
  "\n",
  "\r",
  "\t",
  " ",
  "!",
  "*",
  "?",
  "[",
  "]",
  "~",
  "{",
  "}",
  ";",
].concat(["&", "|", "<", ">", "(", ")", "#", "=", "%", "-", "$(", "${", "'\\''", "a", "é", "😀", "\u200b"]);
const anyText = fc
  .oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...SHELL_SPECIAL), maxLength: 30 }),
  )
  .filter((text) => !text.includes("\0"));

/**
 * Runs `script` in the shell (on stdin, as the controller feeds a startup script) and returns
 * stdout; `parseOnly` reads and parses it, running nothing (`-n`).
 */
function runIn(shell: ShellName, script: string, parseOnly = false): Buffer {
  const { command, stdinArgs, env } = POSIX_SHELLS[shell];
  const [program = "", ...args] = command;
  const run = spawnSync(program, [...args, ...(parseOnly ? ["-n"] : []), ...stdinArgs], {
    input: script,
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(run.status, 0, `${shellLabel(shell)} failed: ${run.stderr.toString()}`);
  return run.stdout;
}

/** printf of each word, each followed by a NUL: the one byte no value can contain. */
const printEach = (words: string[]) => words.map((word) => `printf '%s\\0' ${word}\n`).join("");

function splitOnNul(output: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = output.indexOf(0); at >= 0; at = output.indexOf(0, from)) {
    parts.push(output.subarray(from, at));
    from = at + 1;
  }
  return parts;
}

/** dash runs the most cases; the other shells fewer, as posh and mksh run every printf as a program. */
const runsIn = (shell: ShellName) => ({ numRuns: shell === "dash" ? 25 : 6 });

describe("properties: any text survives the shell quoting, in every POSIX shell", () => {
  for (const shell of SHELL_NAMES) {
    test(`shellQuote: printf of the quoted text prints the text, byte for byte [${shellLabel(shell)}]`, () => {
      fc.assert(
        fc.property(fc.array(anyText, { minLength: 1, maxLength: 40 }), (texts) => {
          const printed = splitOnNul(runIn(shell, printEach(texts.map(shellQuote))));
          assert.deepEqual(
            printed.map((bytes) => bytes.toString("hex")),
            texts.map((text) => Buffer.from(text, "utf8").toString("hex")),
          );
        }),
        runsIn(shell),
      );
    });
  }

  test("shellQuote refuses a NUL, which no shell value can hold", () => {
    fc.assert(
      fc.property(anyText, anyText, (before, after) => {
        assert.throws(() => shellQuote(`${before}\0${after}`), /NUL/);
      }),
      { numRuns: 50 },
    );
  });

  /** Values the Start task may render: whatever passes validateBootstrapValues. */
  const line = anyText.filter((text) => !/[\r\n]/.test(text));
  const capabilityName = fc
    .stringMatching(/^[A-Za-z0-9._-]{1,20}$/)
    .filter((name) => !/^(VSTS_AGENT_INPUT_|VSO_AGENT_IGNORE$|ANKA_AGENT_IDENTIFIER$)/i.test(name));
  const bootstrapValues = fc
    .record({
      org: anyText,
      pool: anyText,
      agentIdentifier: line,
      pat: line,
      packagePath: anyText,
      agentUser: fc.option(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,20}$/), { nil: undefined }),
      agentPath: fc.option(fc.tuple(fc.constantFrom("/", "~/", "$HOME/"), anyText), { nil: undefined }),
      agentLogPath: fc.option(fc.tuple(fc.constantFrom("/", "~/", "$HOME/"), anyText), { nil: undefined }),
      proxy: fc.option(anyText, { nil: undefined }),
      extraCapabilities: fc.uniqueArray(fc.tuple(capabilityName, line), {
        maxLength: 3,
        selector: ([name]) => name.toLowerCase(),
      }),
    })
    .map((v): BootstrapValues => ({
      azureDevOpsUrl: `https://dev.azure.com/${v.org}`,
      pool: v.pool,
      agentName: agentNameFor(v.agentIdentifier),
      agentIdentifier: v.agentIdentifier,
      pat: v.pat,
      agentPackageUrl: `https://download.agent.example/${v.packagePath}`,
      agentUser: v.agentUser === "root" ? undefined : v.agentUser,
      agentPath: v.agentPath?.join(""),
      agentLogPath: v.agentLogPath?.join(""),
      proxyUrl: v.proxy === undefined ? undefined : `http://proxy.example:3128/${v.proxy}`,
      extraCapabilities: Object.fromEntries(v.extraCapabilities),
    }))
    .filter((values) => {
      try {
        validateBootstrapValues(values);
        return true;
      } catch {
        return false;
      }
    });

  const NAMES = STARTUP_SCRIPT_VARIABLES.map((variable) => variable.name);
  const printVariables = printEach(NAMES.map((name) => `"$${name}"`));
  const expectedHex = (values: BootstrapValues) => {
    const expected = startupScriptVariableValues(values);
    return NAMES.map((name) => Buffer.from(expected[name], "utf8").toString("hex"));
  };

  for (const shell of SHELL_NAMES) {
    test(`the built-in script: valid sh, and its assignments give each variable its value exactly [${shellLabel(shell)}]`, () => {
      fc.assert(
        fc.property(fc.array(bootstrapValues, { minLength: 1, maxLength: 8 }), (all) => {
          const scripts = all.map(renderBuiltInStartupScript);
          runIn(shell, scripts.join("\n"), true);
          // The values enter only in the brace group at the top, before the constant body, which
          // starts with `set -u`: run that group alone, in a subshell per script, and print them.
          const preludes = scripts.map((script) => {
            const end = script.lastIndexOf("\n}\nset -u\n");
            assert.ok(end > 0, "the assignment group ends right before the body");
            return `(\n${script.slice(0, end + 3)}${printVariables})\n`;
          });
          const printed = splitOnNul(runIn(shell, preludes.join(""))).map((bytes) => bytes.toString("hex"));
          assert.deepEqual(printed, all.flatMap(expectedHex));
        }),
        runsIn(shell),
      );
    });
  }

  test("the light runner reads the built-in script's values back exactly as dash does", () => {
    fc.assert(
      fc.property(bootstrapValues, (values) => {
        const read = startupScriptAssignments(renderBuiltInStartupScript(values));
        const expected = startupScriptVariableValues(values);
        for (const name of NAMES) assert.equal(read[name], expected[name], name);
      }),
      { numRuns: 200 },
    );
  });

  for (const shell of SHELL_NAMES) {
    test(`a custom script: it runs as rendered and sees each variable with its value, exported [${shellLabel(shell)}]`, () => {
      const custom = `${printVariables}env | grep -c '^ANKA_AZP_TOKEN=' >/dev/null || exit 9\n`;
      fc.assert(
        fc.property(fc.array(bootstrapValues, { minLength: 1, maxLength: 8 }), (all) => {
          const runs = all.map((values) => `(\n${renderCustomStartupScript(custom, values)})\n`);
          const printed = splitOnNul(runIn(shell, runs.join(""))).map((bytes) => bytes.toString("hex"));
          assert.deepEqual(printed, all.flatMap(expectedHex));
        }),
        runsIn(shell),
      );
    });
  }
});
