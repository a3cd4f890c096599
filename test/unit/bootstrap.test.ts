import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  agentNameFor,
  AGENT_IGNORED_VARIABLES,
  renderBuiltInStartupScript,
  renderCustomStartupScript,
  shellQuote,
  STARTUP_SCRIPT_VARIABLES,
  validateBootstrapValues,
  type BootstrapValues,
} from "../../src/bootstrap/index.ts";
import {
  assertShellInstalled,
  POSIX_SHELLS,
  SHELL_NAMES,
  shellLabel,
  type ShellName,
} from "../../emulator/sandbox/index.ts";
import { LONG_PAT as PAT } from "../helpers/secrets.ts";

const base: BootstrapValues = {
  azureDevOpsUrl: "https://dev.azure.com/contoso",
  pool: "macOS",
  agentName: "anka-1234",
  agentIdentifier: "1234",
  pat: PAT,
  agentPackageUrl: "https://download.agent.dev.azure.com/agent/4.264.2/vsts-agent-osx-arm64-4.264.2.tar.gz",
};

const NASTY = [
  "",
  "plain",
  "with spaces  and\ttab",
  "it's",
  "'",
  "''",
  `"double" 'single'`,
  "$HOME",
  "${HOME}",
  "`id`",
  "$(id)",
  "back\\slash\\",
  "line1\nline2\n",
  "\n",
  "trailing newlines\n\n\n",
  "-n",
  "--leading-dash",
  "*",
  "~",
  "; rm -rf / #",
  "ünïcødé ✓ 日本語 🍏",
  "%s %d \\n",
  "!event",
];

/** What `printf %s <quoted>` prints in the shell. */
function roundTrip(shell: ShellName, value: string): string {
  const [program = "", ...args] = POSIX_SHELLS[shell].command;
  const result = spawnSync(program, [...args, "-c", `printf %s ${shellQuote(value)}`], {
    encoding: "utf8",
    env: { ...process.env, ...POSIX_SHELLS[shell].env },
  });
  assert.equal(result.status, 0, `${shell} failed for ${JSON.stringify(value)}: ${result.stderr}`);
  return result.stdout;
}

describe("agentNameFor", () => {
  test("prefixes anka- and keeps [A-Za-z0-9._-]", () => {
    assert.equal(agentNameFor("1234"), "anka-1234");
    assert.equal(agentNameFor("1234-ios_x.y"), "anka-1234-ios_x.y");
  });
  test("replaces every other character by one dash", () => {
    assert.equal(agentNameFor("a b/c:d"), "anka-a-b-c-d");
    assert.equal(agentNameFor("`id` $(x)"), "anka--id----x-");
    assert.equal(agentNameFor("é🍏"), "anka---");
    assert.equal(agentNameFor("a\nb"), "anka-a-b");
  });
});

describe("shellQuote", () => {
  for (const shell of SHELL_NAMES) {
    test(`every nasty string round-trips through ${shellLabel(shell)}`, () => {
      assertShellInstalled(shell);
      for (const value of NASTY) assert.equal(roundTrip(shell, value), value);
    });
  }
  test("the result is one single-quoted word", () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
    assert.equal(shellQuote(""), "''");
  });
  test("refuses NUL, which no shell value can hold", () => {
    assert.throws(() => shellQuote("a\0b"), /NUL/);
  });
});

describe("validateBootstrapValues", () => {
  const rejects = (change: Partial<BootstrapValues>, message: RegExp) =>
    assert.throws(() => validateBootstrapValues({ ...base, ...change }), message);

  test("accepts complete values", () => {
    validateBootstrapValues(base);
    validateBootstrapValues({
      ...base,
      agentUser: "builder",
      agentPath: "~/agent dir",
      agentLogPath: "$HOME/logs",
      proxyUrl: "http://proxy:3128",
      extraCapabilities: { "anka-template": "sonoma-14", "anka.class": "x y" },
    });
    validateBootstrapValues({ ...base, agentPath: "/opt/azp", agentUser: "" });
  });
  test("names each empty required field and the fix", () => {
    rejects({ azureDevOpsUrl: "" }, /azureDevOpsUrl is empty: set the organization URL/);
    rejects({ pool: " " }, /pool is empty: set the agent pool/);
    rejects({ agentName: "" }, /agentName is empty/);
    rejects({ agentIdentifier: "" }, /agentIdentifier is empty: set the task input agentIdentifier/);
    rejects({ pat: "" }, /pat is empty: set azureDevOpsToken/);
    rejects({ agentPackageUrl: "" }, /agentPackageUrl is empty/);
  });
  test("rejects URLs that are not http(s)", () => {
    rejects({ azureDevOpsUrl: "dev.azure.com/contoso" }, /azureDevOpsUrl is not a URL: give a full http/);
    rejects({ agentPackageUrl: "file:///tmp/agent.tar.gz" }, /agentPackageUrl uses file: instead of http/);
    rejects({ proxyUrl: "socks5://proxy:1080" }, /proxyUrl uses socks5:/);
  });
  test("does not echo a URL, which may carry credentials", () => {
    assert.throws(
      () => validateBootstrapValues({ ...base, proxyUrl: "ftp://user:hunter2@proxy" }),
      (error: Error) => !error.message.includes("hunter2"),
    );
  });
  test("rejects agent users that are no macOS user name", () => {
    for (const agentUser of ["-u", "a b", "x;id", "$(id)", "näme", "root"]) {
      rejects({ agentUser }, /agentUser/);
    }
  });
  test("rejects a NUL byte in any field, naming it", () => {
    rejects({ pool: "a\0b" }, /pool contains a NUL/);
    rejects({ agentPath: "/a\0" }, /agentPath contains a NUL/);
    rejects({ extraCapabilities: { x: "a\0" } }, /extraCapabilities\.x contains a NUL/);
  });
  test("rejects relative agent and log paths", () => {
    rejects({ agentPath: "azp-agent" }, /agentPath "azp-agent" is not absolute/);
    rejects({ agentLogPath: "~other/logs" }, /agentLogPath/);
  });
  test("rejects capabilities the agent's .env cannot carry", () => {
    rejects(
      { extraCapabilities: { "bad name": "x" } },
      /extraCapabilities name "bad name" has characters outside/,
    );
    rejects({ extraCapabilities: { "a=b": "x" } }, /has characters outside/);
    rejects({ extraCapabilities: { "": "x" } }, /has characters outside/);
    rejects({ extraCapabilities: { VSTS_AGENT_INPUT_TOKEN: "x" } }, /a setting the agent reads/);
    rejects({ extraCapabilities: { anka_agent_identifier: "x" } }, /is set from agentIdentifier/);
    rejects({ extraCapabilities: { a: "1", A: "2" } }, /given twice/);
    rejects({ extraCapabilities: { a: "x\ny" } }, /extraCapabilities\.a contains a line break/);
    rejects({ agentIdentifier: "a\rb" }, /agentIdentifier contains a line break/);
    rejects({ agentIdentifier: "x".repeat(1024) }, /1024/);
  });
  test("rejects a PAT with a line break, without echoing it", () => {
    assert.throws(
      () => validateBootstrapValues({ ...base, pat: `${PAT}\n` }),
      (error: Error) => /pat contains a line break/.test(error.message) && !error.message.includes(PAT),
    );
  });
});

describe("renderBuiltInStartupScript", () => {
  const script = renderBuiltInStartupScript({
    ...base,
    agentUser: "builder",
    proxyUrl: "http://proxy:3128",
    extraCapabilities: { "anka-template": "sonoma-14" },
  });

  test("holds the PAT exactly once, in its quoted assignment", () => {
    assert.equal(script.split(PAT).length - 1, 1);
    assert.ok(script.split("\n").some((line) => line.trim() === `ANKA_AZP_TOKEN='${PAT}'`));
  });
  test("assigns every documented variable once, quoted", () => {
    for (const { name } of STARTUP_SCRIPT_VARIABLES) {
      const assignments = script
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line.startsWith(`${name}=`));
      assert.equal(assignments.length, 1, name);
      assert.match(assignments[0] ?? "", new RegExp(`^${name}='`));
    }
  });
  test("never exports the values, so no child inherits the PAT", () => {
    // The only export is inside config.sh's own shell, for VSTS_AGENT_INPUT_TOKEN and VSO_AGENT_IGNORE.
    const exports = script.split("\n").filter((line) => /^\s*export\b/.test(line));
    assert.deepEqual(
      exports.map((line) => line.trim()),
      ["export VSTS_AGENT_INPUT_TOKEN VSO_AGENT_IGNORE"],
    );
    assert.doesNotMatch(script, /set -x/);
  });
  test("puts the identifier capability and the extras into .env lines", () => {
    assert.ok(script.includes(`ANKA_AZP_CAPABILITIES='ANKA_AGENT_IDENTIFIER=1234\nanka-template=sonoma-14'`));
  });
  test("lists every PAT carrier and internal variable in VSO_AGENT_IGNORE, but not the capability", () => {
    assert.ok(AGENT_IGNORED_VARIABLES.includes("VSTS_AGENT_INPUT_TOKEN"));
    assert.ok(AGENT_IGNORED_VARIABLES.includes("ANKA_AZP_TOKEN"));
    assert.ok(!AGENT_IGNORED_VARIABLES.includes("ANKA_AGENT_IDENTIFIER"));
    assert.ok(script.includes(`anka_ignored_variables='${AGENT_IGNORED_VARIABLES.join(",")}'`));
  });
  test("runs the agent once, in the background, detached from the script's streams", () => {
    assert.match(script, /exec \.\/run\.sh --once <\/dev\/null >>"\$2" 2>&1/);
    assert.match(
      script,
      /nohup sudo -n -H -u "\$ANKA_AZP_AGENT_USER" sh -c .* <\/dev\/null >\/dev\/null 2>&1 &/,
    );
    assert.match(script, /\nmain <\/dev\/null\n$/);
  });
  test("validates first", () => {
    assert.throws(() => renderBuiltInStartupScript({ ...base, pool: "" }), /pool is empty/);
  });
  test("is pure ASCII outside the values, for every combination of options", () => {
    // yash in a C locale refuses any byte above 127, even in a comment (emulator/sandbox/shells.ts).
    const options = {
      agentUser: ["builder", "builder"],
      agentPath: ["~/agent", "~/agent ü"],
      agentLogPath: ["/var/log/agent", "/var/log/agent 🍏"],
      proxyUrl: ["http://proxy:3128", "http://proxy:3128/ü"],
      extraCapabilities: [{ "anka-template": "sonoma-14" }, { "anka-template": "sonoma ✓" }],
    } as const;
    const names = Object.keys(options) as Array<keyof typeof options>;
    const nonAscii = (text: string) => [...text].filter((char) => char.charCodeAt(0) > 0x7f);
    for (let mask = 0; mask < 2 ** names.length; mask++) {
      const chosen = names.filter((_, bit) => mask & (1 << bit));
      const label = chosen.join(",") || "no options";
      const [ascii, utf8] = [0, 1].map((variant) =>
        renderBuiltInStartupScript({
          ...base,
          pool: variant ? "Pool ünï" : "Pool",
          ...Object.fromEntries(chosen.map((name) => [name, options[name][variant]])),
        }),
      );
      assert.deepEqual(nonAscii(ascii ?? ""), [], label);
      const script = utf8 ?? "";
      const valuesStart = script.indexOf("\n{\n");
      const valuesEnd = script.lastIndexOf("\n}\nset -u\n");
      assert.ok(valuesStart > 0 && valuesEnd > valuesStart, label);
      assert.deepEqual(nonAscii(script.slice(0, valuesStart) + script.slice(valuesEnd)), [], label);
      assert.match(script.slice(valuesStart, valuesEnd), /Pool ünï/, label);
    }
  });
  test("stays far below the controller's limits (a few KiB, not 64)", () => {
    assert.ok(Buffer.byteLength(script) < 16 * 1024, `${Buffer.byteLength(script)} bytes`);
  });
});

describe("renderCustomStartupScript", () => {
  const custom = "#!/bin/bash\necho custom";
  const script = renderCustomStartupScript(custom, { ...base, agentUser: "builder" });

  test("exports every documented variable, then runs the user's script unchanged", () => {
    const exported = /^\s*export (.+)$/m.exec(script)?.[1]?.split(" ") ?? [];
    for (const { name } of STARTUP_SCRIPT_VARIABLES) assert.ok(exported.includes(name), name);
    assert.ok(exported.includes("VSO_AGENT_IGNORE"));
    assert.ok(script.endsWith(`${custom}\n`));
  });
  test("the variables reach the custom script's environment intact", () => {
    const values: BootstrapValues = {
      ...base,
      pool: `Pool 'q' "d" $HOME \`id\``,
      agentIdentifier: "id with spaces $(id)",
      extraCapabilities: { "anka-template": "sonoma 14" },
    };
    const result = spawnSync("dash", [], {
      input: renderCustomStartupScript("env", values),
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    assert.equal(result.status, 0, result.stderr);
    const env = result.stdout;
    assert.ok(env.includes(`ANKA_AZP_POOL=${values.pool}\n`));
    assert.ok(env.includes(`ANKA_AGENT_IDENTIFIER=${values.agentIdentifier}\n`));
    assert.ok(env.includes(`ANKA_AZP_TOKEN=${PAT}\n`));
    assert.ok(
      env.includes(
        `ANKA_AZP_CAPABILITIES=ANKA_AGENT_IDENTIFIER=${values.agentIdentifier}\nanka-template=sonoma 14\n`,
      ),
    );
    assert.ok(env.includes(`VSO_AGENT_IGNORE=${AGENT_IGNORED_VARIABLES.join(",")}\n`));
  });
  test("rejects an empty custom script", () => {
    assert.throws(() => renderCustomStartupScript(" \n", base), /custom startup script is empty/);
  });
});

describe("STARTUP_SCRIPT_VARIABLES", () => {
  test("names are stable shell variable names; only the PAT and the agent key are secret", () => {
    for (const { name } of STARTUP_SCRIPT_VARIABLES) assert.match(name, /^ANKA_[A-Z_]+$/);
    assert.deepEqual(
      STARTUP_SCRIPT_VARIABLES.filter((variable) => variable.secret).map((variable) => variable.name),
      ["ANKA_AZP_TOKEN", "ANKA_AZP_AGENT_KEY"],
    );
  });
  test("docs/startup-script.md documents every one", () => {
    const docs = readFileSync(new URL("../../docs/startup-script.md", import.meta.url), "utf8");
    for (const { name } of STARTUP_SCRIPT_VARIABLES) assert.ok(docs.includes(`\`${name}\``), name);
  });
});
