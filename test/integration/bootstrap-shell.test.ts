/**
 * Runs the rendered startup script for real, the way the Anka controller does (`sh` reading the
 * script on stdin), under every POSIX shell Debian packages (macOS's `sh` may be bash, dash or zsh),
 * against a local HTTP server that serves a fake agent package. Every scenario runs under every
 * shell. The fake config.sh and run.sh record their argv, environment, working folder and standard
 * streams. PATH holds only logging shims of the commands the script may call, so calling anything
 * else fails the run, and every argument list is on record.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  agentNameFor,
  renderBuiltInStartupScript,
  renderCustomStartupScript,
  shellQuote,
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

/** The fake run.sh stays alive this long: a script that waited for it would be caught. */
const RUN_SH_LIFETIME_MS = 10_000;
const PROMPT_RETURN_MS = 5_000;

/** Scenarios run this many at a time: each starts a shell, curl, tar and two node processes. */
const CONCURRENT_RUNS = 6;

/**
 * The commands the built-in script may call (contract §5), each shimmed on PATH, and the programs
 * macOS has for the builtins it uses: yash --posix runs its builtin `[`, `test` or `printf` only
 * when the program is on PATH, and posh and mksh have no printf builtin (they run the program).
 */
const ALLOWED_COMMANDS = [
  "curl",
  "tar",
  "mkdir",
  "chmod",
  "rm",
  "cat",
  "printf",
  "[",
  "test",
  "nohup",
  "id",
  "sudo",
];

/** Written into the fake agent: records what config.sh / run.sh got, outside every HOME. */
const RECORDER = `
import { readFileSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
const [recordsDir, mode, ...argv] = process.argv.slice(2);
const fd = (n) => readlinkSync("/proc/self/fd/" + n);
let dotEnv = null;
try { dotEnv = readFileSync(".env", "utf8"); } catch {}
const record = { argv, env: process.env, cwd: process.cwd(), fd0: fd(0), fd1: fd(1), fd2: fd(2), pid: process.pid, dotEnv };
writeFileSync(recordsDir + "/" + mode + ".tmp", JSON.stringify(record));
renameSync(recordsDir + "/" + mode + ".tmp", recordsDir + "/" + mode + ".json");
if (mode === "run") setTimeout(() => {}, ${RUN_SH_LIFETIME_MS});
`;

let root: string;
let server: http.Server;
let baseUrl: string;
const requests: string[] = [];
const sandboxes: Sandbox[] = [];

before(async () => {
  root = mkdtempSync(join(tmpdir(), "anka-bootstrap-"));
  writeFileSync(join(root, "recorder.mjs"), RECORDER);
  mkdirSync(join(root, "www"));
  server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    // A request through the proxy carries the absolute URL; serve it all the same.
    const path = new URL(req.url ?? "/", "http://local").pathname;
    const file = join(root, "www", ...path.split("/").filter((part) => part !== "" && part !== ".."));
    if (!existsSync(file)) {
      res.writeHead(404).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/gzip" }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  // The run.sh of a test that failed before reading its record.
  for (const sandbox of sandboxes) {
    const record = readRecord(sandbox, "run");
    if (record) stopProcess(record.pid);
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(root, { recursive: true, force: true });
});

function stopProcess(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
}

interface Sandbox {
  id: string;
  dir: string;
  home: string;
  builderHome: string;
  records: string;
  argvLog: string;
  env: Record<string, string>;
  shell: ShellName;
}

/** The program's full path, found on this process's PATH (a shell's `command -v` names builtins). */
function which(command: string): string {
  const found = (process.env.PATH ?? "")
    .split(":")
    .map((dir) => join(dir, command))
    .find((path) => {
      try {
        accessSync(path, constants.X_OK);
        return statSync(path).isFile();
      } catch {
        return false;
      }
    });
  assert.ok(found, `${command} is needed by this test`);
  return found;
}

/** The shell's command line with the program's full path. */
function shellCommand(shell: ShellName): string[] {
  const [program = "", ...args] = POSIX_SHELLS[shell].command;
  return [which(program), ...args];
}

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o755 });
}

/** A fresh VM stand-in: HOMEs, shims on PATH, and agent packages on the HTTP server. */
function makeSandbox(shell: ShellName): Sandbox {
  assertShellInstalled(shell);
  const id = `s${sandboxes.length}`;
  const dir = join(root, id);
  const sandbox: Sandbox = {
    id,
    dir,
    home: join(dir, "home", "anka"),
    builderHome: join(dir, "home", "builder"),
    records: join(dir, "records"),
    argvLog: join(dir, "argv.log"),
    env: {},
    shell,
  };
  const bin = join(dir, "bin");
  // TMPDIR inside the sandbox: a here-document's temporary file holding the PAT would be found.
  const tmp = join(dir, "tmp");
  for (const folder of [sandbox.home, sandbox.builderHome, sandbox.records, bin, tmp]) {
    mkdirSync(folder, { recursive: true });
  }
  const log = (name: string) =>
    `printf '%s\\n' ${shellQuote(`== ${name}`)} "$@" >>${shellQuote(sandbox.argvLog)}\n`;
  // GNU tar runs gzip as a program (macOS's bsdtar does not): only tar gets it on its PATH.
  const tarHelpers = join(dir, "tar-helpers");
  mkdirSync(tarHelpers);
  symlinkSync(which("gzip"), join(tarHelpers, "gzip"));
  writeExecutable(
    join(bin, "tar"),
    `#!/bin/sh\n${log("tar")}PATH=${shellQuote(tarHelpers)}:$PATH exec ${shellQuote(which("tar"))} "$@"\n`,
  );
  for (const command of ALLOWED_COMMANDS.filter((name) => !["sudo", "id", "tar"].includes(name))) {
    writeExecutable(
      join(bin, command),
      `#!/bin/sh\n${log(command)}exec ${shellQuote(which(command))} "$@"\n`,
    );
  }
  // The script's `sh -c` programs run in the same shell, as on macOS.
  writeExecutable(
    join(bin, "sh"),
    `#!/bin/sh\n${log("sh")}exec ${shellCommand(shell).map(shellQuote).join(" ")} "$@"\n`,
  );
  writeExecutable(
    join(bin, "id"),
    `#!/bin/sh\n${log("id")}case "$1 $2" in '-u builder' | '-u locked') echo 501; exit 0 ;; esac\n` +
      `exec ${shellQuote(which("id"))} "$@"\n`,
  );
  // sudo: drops its options and runs the rest as "builder", with a reset environment like sudo's
  // env_reset and HOME of the target user like -H; the locale stays, as macOS's sudoers env_keep
  // says. "locked" stands for a user that needs a password.
  writeExecutable(
    join(bin, "sudo"),
    `#!/bin/sh
${log("sudo")}user=
while [ $# -gt 0 ]; do
  case $1 in
    -n | -H | -i | -E) shift ;;
    -u) user=$2; shift 2 ;;
    *) break ;;
  esac
done
case $user in
  builder) ;;
  locked) echo 'sudo: a password is required' >&2; exit 1 ;;
  *) echo "sudo: unknown user $user" >&2; exit 1 ;;
esac
exec ${shellQuote(which("env"))} -i HOME=${shellQuote(sandbox.builderHome)} USER=builder LOGNAME=builder PATH="$PATH" \\
  \${LANG+"LANG=$LANG"} \${LC_ALL+"LC_ALL=$LC_ALL"} \${LC_CTYPE+"LC_CTYPE=$LC_CTYPE"} "$@"
`,
  );
  sandboxes.push(sandbox);
  sandbox.env = {
    ...POSIX_SHELLS[shell].env,
    HOME: sandbox.home,
    USER: "anka",
    LOGNAME: "anka",
    SHELL: "/bin/bash",
    PATH: bin,
    TMPDIR: tmp,
  };

  const recorderCall = (mode: string) =>
    `exec ${[process.execPath, join(root, "recorder.mjs"), sandbox.records, mode].map(shellQuote).join(" ")} "$@"\n`;
  buildPackage(sandbox, "agent.tar.gz", {
    "config.sh": `#!/bin/sh\nprintf 'fake config.sh: registering\\n'\n${recorderCall("config")}`,
    "run.sh": `#!/bin/sh\n${recorderCall("run")}`,
  });
  buildPackage(sandbox, "config-fails.tar.gz", {
    "config.sh": `#!/bin/sh\nprintf 'Error: pool not found (fake config.sh)\\n' >&2\nexit 1\n`,
    "run.sh": `#!/bin/sh\n${recorderCall("run")}`,
  });
  mkdirSync(join(root, "www", id), { recursive: true });
  writeFileSync(join(root, "www", id, "garbage.tar.gz"), "this is not a tar file\n");
  return sandbox;
}

function buildPackage(sandbox: Sandbox, name: string, files: Record<string, string>): void {
  const contents = join(sandbox.dir, `package-${name}`);
  mkdirSync(join(contents, "bin"), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeExecutable(join(contents, file), text);
  mkdirSync(join(root, "www", sandbox.id), { recursive: true });
  const tar = spawnSync("tar", ["-czf", join(root, "www", sandbox.id, name), "-C", contents, "."]);
  assert.equal(tar.status, 0, tar.stderr.toString());
}

interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Feeds the script on stdin, like `anka run <vm> sh`, and waits until its output is closed. */
function runScript(sandbox: Sandbox, script: string): Promise<ScriptRun> {
  // By its full path: the script's PATH holds only the shims.
  const [command = "", ...args] = [...shellCommand(sandbox.shell), ...POSIX_SHELLS[sandbox.shell].stdinArgs];
  const started = Date.now();
  // Its own process group, so that a hung run is killed with everything it started.
  const child = spawn(command, args, { env: sandbox.env, cwd: sandbox.home, stdio: "pipe", detached: true });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.end(script);
  const guard = setTimeout(() => process.kill(-(child.pid ?? 0), "SIGKILL"), 15_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

interface ProcessRecord {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  fd0: string;
  fd1: string;
  fd2: string;
  pid: number;
  dotEnv: string | null;
}

function readRecord(sandbox: Sandbox, mode: "config" | "run"): ProcessRecord | undefined {
  const file = join(sandbox.records, `${mode}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as ProcessRecord) : undefined;
}

/** run.sh starts in the background: wait for its record, and stop it once read. */
async function waitForRunRecord(sandbox: Sandbox): Promise<ProcessRecord> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const record = readRecord(sandbox, "run");
    if (record) {
      stopProcess(record.pid);
      return record;
    }
    assert.ok(Date.now() < deadline, "run.sh did not start within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every file under the sandbox except the records (which hold config.sh's environment on purpose). */
function filesHoldingPat(sandbox: Sandbox): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (path === sandbox.records) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && readFileSync(path).includes(PAT)) found.push(path);
    }
  };
  walk(sandbox.dir);
  return found;
}

function baseValues(sandbox: Sandbox, packageName = "agent.tar.gz"): BootstrapValues {
  return {
    azureDevOpsUrl: "https://dev.azure.com/contoso",
    pool: "macOS",
    agentName: "anka-1234",
    agentIdentifier: "1234",
    pat: PAT,
    agentPackageUrl: `${baseUrl}/${sandbox.id}/${packageName}`,
  };
}

const NASTY_POOL = `Pool 'single' "double" $HOME \`id\` $(id) \\ ünï 🍏 and\nsecond line`;
const NASTY_IDENTIFIER = `id with  spaces \`whoami\` $(id) 'q' "d" \\ $HOME ünï`;

function nastyValues(sandbox: Sandbox): BootstrapValues {
  return {
    ...baseValues(sandbox),
    // Only reachable through the proxy: the download must honour it.
    agentPackageUrl: `http://agent-mirror.invalid/${sandbox.id}/agent.tar.gz`,
    proxyUrl: baseUrl,
    pool: NASTY_POOL,
    agentIdentifier: NASTY_IDENTIFIER,
    agentName: agentNameFor(NASTY_IDENTIFIER),
    agentUser: "builder",
    agentPath: "~/azp agent $x `y` ü",
    agentLogPath: join(sandbox.dir, "logs 'quoted' $dir"),
    extraCapabilities: { "anka-template": "sonoma 14 'x' 🍏", "anka.template-tag": "$tag" },
  };
}

function assertNoPatAnywhere(sandbox: Sandbox, run: ScriptRun): void {
  assert.ok(!readFileSync(sandbox.argvLog, "utf8").includes(PAT), "the PAT is in an argument list");
  assert.deepEqual(filesHoldingPat(sandbox), [], "the PAT is left on disk");
  assert.ok(!run.stdout.includes(PAT) && !run.stderr.includes(PAT), "the PAT was printed");
}

/** One row of the matrix: a situation the script meets, checked the same way under every shell. */
interface Scenario {
  name: string;
  run(shell: ShellName): Promise<void>;
}

const SCENARIOS: Scenario[] = [
  {
    name: "registers and starts the agent with defaults, as the logged-in user",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const run = await runScript(sandbox, renderBuiltInStartupScript(baseValues(sandbox)));
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, "");
      assert.ok(run.elapsedMs < PROMPT_RETURN_MS, `the script waited ${run.elapsedMs} ms for run.sh`);

      const agentPath = join(sandbox.home, "azp-agent");
      const logPath = join(agentPath, "_diag");
      const config = readRecord(sandbox, "config");
      assert.ok(config, "config.sh did not run");
      assert.deepEqual(config.argv, [
        "--unattended",
        "--url",
        "https://dev.azure.com/contoso",
        "--auth",
        "pat",
        "--pool",
        "macOS",
        "--agent",
        "anka-1234",
        "--replace",
        "--acceptTeeEula",
        "--work",
        `${agentPath}/_work`,
      ]);
      assert.equal(config.cwd, agentPath);
      assert.equal(config.env.VSTS_AGENT_INPUT_TOKEN, PAT);
      const ignored = (config.env.VSO_AGENT_IGNORE ?? "").split(",");
      for (const name of ["VSTS_AGENT_INPUT_TOKEN", "ANKA_AZP_TOKEN"])
        assert.ok(ignored.includes(name), name);
      assert.ok(!ignored.includes("ANKA_AGENT_IDENTIFIER"));
      const carriers = Object.keys(config.env).filter((name) => config.env[name]?.includes(PAT));
      assert.deepEqual(carriers, ["VSTS_AGENT_INPUT_TOKEN"]);
      assert.equal(config.dotEnv, "ANKA_AGENT_IDENTIFIER=1234\n");
      assert.equal(config.fd0, "/dev/null");

      const runRecord = await waitForRunRecord(sandbox);
      assert.deepEqual(runRecord.argv, ["--once"]);
      assert.equal(runRecord.cwd, agentPath);
      assert.equal(runRecord.fd0, "/dev/null");
      assert.equal(runRecord.fd1, join(logPath, "anka-run.log"));
      assert.equal(runRecord.fd2, join(logPath, "anka-run.log"));
      assert.ok(
        !Object.values(runRecord.env).some((value) => value.includes(PAT)),
        "run.sh inherits the PAT",
      );
      assert.equal(runRecord.env.VSTS_AGENT_INPUT_TOKEN, undefined);

      assert.ok(!existsSync(join(agentPath, "anka-agent-package.tar.gz")), "the package is left behind");
      assert.match(readFileSync(join(logPath, "anka-startup.log"), "utf8"), /fake config.sh: registering/);
      assertNoPatAnywhere(sandbox, run);
    },
  },
  {
    name: "carries quotes and UTF-8 intact, through sudo to the agent user, downloading via the proxy",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const values = nastyValues(sandbox);
      const run = await runScript(sandbox, renderBuiltInStartupScript(values));
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.elapsedMs < PROMPT_RETURN_MS, `the script waited ${run.elapsedMs} ms for run.sh`);

      assert.ok(
        requests.includes(`http://agent-mirror.invalid/${sandbox.id}/agent.tar.gz`),
        "the package was not fetched through the proxy",
      );
      const argvLog = readFileSync(sandbox.argvLog, "utf8");
      assert.match(argvLog, /== sudo\n-n\n-H\n-u\nbuilder\n/);

      // The default-less paths resolve against the agent user's home, as its own shell reports it.
      const agentPath = join(sandbox.builderHome, "azp agent $x `y` ü");
      const logPath = values.agentLogPath ?? "";
      const config = readRecord(sandbox, "config");
      assert.ok(config, "config.sh did not run");
      assert.deepEqual(config.argv, [
        "--unattended",
        "--url",
        "https://dev.azure.com/contoso",
        "--auth",
        "pat",
        "--pool",
        NASTY_POOL,
        "--agent",
        agentNameFor(NASTY_IDENTIFIER),
        "--replace",
        "--acceptTeeEula",
        "--work",
        `${agentPath}/_work`,
        "--proxyurl",
        baseUrl,
      ]);
      assert.equal(config.cwd, agentPath);
      assert.equal(config.env.USER, "builder");
      assert.equal(config.env.VSTS_AGENT_INPUT_TOKEN, PAT);
      assert.equal(
        config.dotEnv,
        `ANKA_AGENT_IDENTIFIER=${NASTY_IDENTIFIER}\nanka-template=sonoma 14 'x' 🍏\nanka.template-tag=$tag\n`,
      );

      const runRecord = await waitForRunRecord(sandbox);
      assert.deepEqual(runRecord.argv, ["--once"]);
      assert.equal(runRecord.env.USER, "builder");
      assert.equal(runRecord.cwd, agentPath);
      assert.equal(runRecord.fd0, "/dev/null");
      assert.equal(runRecord.fd1, join(logPath, "anka-run.log"));
      assert.ok(
        !Object.values(runRecord.env).some((value) => value.includes(PAT)),
        "run.sh inherits the PAT",
      );
      assertNoPatAnywhere(sandbox, run);
    },
  },
  {
    name: "a failed download exits 3 and says so on stderr, with the log",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const run = await runScript(sandbox, renderBuiltInStartupScript(baseValues(sandbox, "missing.tar.gz")));
      assert.equal(run.code, 3, run.stderr);
      const log = join(sandbox.home, "azp-agent", "_diag", "anka-startup.log");
      assert.match(run.stderr, /404/, "curl's error is not shown");
      const lastLine = run.stderr.trimEnd().split("\n").at(-1) ?? "";
      assert.match(lastLine, /^anka-startup: download failed: .*\(log: (.*)\)$/);
      assert.ok(lastLine.endsWith(`(log: ${log})`), lastLine);
      assert.equal(readRecord(sandbox, "config"), undefined);
      assertNoPatAnywhere(sandbox, run);
    },
  },
  {
    name: "a package that is no tar.gz exits 4, naming the unpack step",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const run = await runScript(sandbox, renderBuiltInStartupScript(baseValues(sandbox, "garbage.tar.gz")));
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stderr, /anka-startup: unpack failed: .*anka-startup\.log\)\n$/);
      assert.equal(readRecord(sandbox, "config"), undefined);
    },
  },
  {
    name: "a failing config.sh exits 6, shows its output and starts nothing",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const values = { ...baseValues(sandbox, "config-fails.tar.gz"), agentUser: "builder" };
      const run = await runScript(sandbox, renderBuiltInStartupScript(values));
      assert.equal(run.code, 6, run.stderr);
      assert.match(run.stderr, /Error: pool not found \(fake config.sh\)/);
      assert.match(
        run.stderr,
        /anka-startup: configure failed: config.sh could not register agent anka-1234/,
      );
      assert.ok(run.stderr.includes(join(sandbox.builderHome, "azp-agent", "_diag", "anka-startup.log")));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(readRecord(sandbox, "run"), undefined, "run.sh started after a failed configuration");
      assertNoPatAnywhere(sandbox, run);
    },
  },
  {
    name: "an agent user without password-less sudo exits 2 and says what is needed",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const run = await runScript(
        sandbox,
        renderBuiltInStartupScript({ ...baseValues(sandbox), agentUser: "locked" }),
      );
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /a password is required/);
      assert.match(run.stderr, /agent user failed: .*password-less sudo/);
    },
  },
  {
    name: "an agent user that does not exist exits 2, naming it",
    async run(shell) {
      const sandbox = makeSandbox(shell);
      const run = await runScript(
        sandbox,
        renderBuiltInStartupScript({ ...baseValues(sandbox), agentUser: "ghost" }),
      );
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /agent user failed: there is no user ghost in this VM/);
    },
  },
  {
    name: "the minimal custom script in docs/startup-script.md registers and starts the agent",
    async run(shell) {
      const docs = readFileSync(new URL("../../docs/startup-script.md", import.meta.url), "utf8");
      const example = /A minimal custom script[\s\S]*?```sh\n([\s\S]*?)```/.exec(docs)?.[1];
      assert.ok(example, "the example is missing from the docs");
      const sandbox = makeSandbox(shell);
      const values = { ...baseValues(sandbox), extraCapabilities: { "anka-template": "sonoma-14" } };
      const run = await runScript(sandbox, renderCustomStartupScript(example, values));
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.elapsedMs < PROMPT_RETURN_MS, `the script waited ${run.elapsedMs} ms for run.sh`);
      const config = readRecord(sandbox, "config");
      assert.ok(config, "config.sh did not run");
      assert.equal(config.env.VSTS_AGENT_INPUT_TOKEN, PAT);
      assert.ok(config.env.VSO_AGENT_IGNORE?.split(",").includes("ANKA_AZP_TOKEN"));
      assert.equal(config.dotEnv, "ANKA_AGENT_IDENTIFIER=1234\nanka-template=sonoma-14\n");
      const runRecord = await waitForRunRecord(sandbox);
      assert.deepEqual(runRecord.argv, ["--once"]);
      assert.equal(runRecord.env.ANKA_AGENT_IDENTIFIER, "1234");
      assert.ok(
        !Object.values(runRecord.env).some((value) => value.includes(PAT)),
        "run.sh inherits the PAT",
      );
      assertNoPatAnywhere(sandbox, run);
    },
  },
];

describe("startup scripts: every scenario under every POSIX shell", { concurrency: CONCURRENT_RUNS }, () => {
  for (const scenario of SCENARIOS) {
    for (const shell of SHELL_NAMES) {
      test(`${scenario.name} [${shellLabel(shell)}]`, () => scenario.run(shell));
    }
  }
});

describe("yash outside a UTF-8 locale", () => {
  // Why the matrix gives yash LC_CTYPE=C.UTF-8 (emulator/sandbox/shells.ts): in glibc's C locale it
  // reads ASCII only. The script's own text is ASCII, so ASCII values work there; UTF-8 values do not.
  const inCLocale = (sandbox: Sandbox) => {
    sandbox.env = { ...sandbox.env, LC_CTYPE: "C" };
    return sandbox;
  };

  test("runs the script with ASCII values in the C locale", async () => {
    const sandbox = inCLocale(makeSandbox("yash-posix"));
    const run = await runScript(sandbox, renderBuiltInStartupScript(baseValues(sandbox)));
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await waitForRunRecord(sandbox)).cwd, join(sandbox.home, "azp-agent"));
  });

  test("refuses a UTF-8 value in the C locale", async () => {
    const sandbox = inCLocale(makeSandbox("yash-posix"));
    const values = { ...baseValues(sandbox), pool: "macOS ü" };
    const run = await runScript(sandbox, renderBuiltInStartupScript(values));
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Invalid or incomplete multibyte or wide character/);
    assert.equal(readRecord(sandbox, "config"), undefined);
  });
});

describe("shellcheck", () => {
  const shellcheck = (script: string) =>
    spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });

  before(() => {
    assert.equal(
      spawnSync("shellcheck", ["--version"]).status,
      0,
      "install shellcheck (apt-get install shellcheck)",
    );
  });

  test("finds nothing in rendered scripts", () => {
    const sandbox = makeSandbox("dash");
    const scripts = [
      renderBuiltInStartupScript(baseValues(sandbox)),
      renderBuiltInStartupScript(nastyValues(sandbox)),
      renderBuiltInStartupScript({ ...baseValues(sandbox), agentUser: "builder", agentPath: "/opt/azp" }),
      renderCustomStartupScript("./config.sh --help\n", nastyValues(sandbox)),
    ];
    for (const script of scripts) {
      const result = shellcheck(script);
      assert.equal(result.stdout + result.stderr, "");
      assert.equal(result.status, 0);
    }
  });

  test("finds nothing whatever text the values hold", () => {
    const texts = [
      "it's",
      `"d" 's' ''`,
      "$HOME ${HOME} `id` $(id) $1",
      "back\\slash\\",
      "\\",
      "a\\'b",
      "~",
      "~user",
      "#hash ; rm -rf / !x * ? [a] {a,b}",
      "\t\u00a0ünï 🍏 %s \\n",
    ];
    const sandbox = makeSandbox("dash");
    for (const text of texts) {
      const values: BootstrapValues = {
        ...baseValues(sandbox),
        azureDevOpsUrl: `https://dev.azure.com/${encodeURIComponent(text)}`,
        pool: `${text}\n${text}`,
        agentIdentifier: text,
        agentName: agentNameFor(text),
        agentPath: `~/${text}`,
        agentLogPath: `/${text}`,
        proxyUrl: `http://proxy/${text}`,
        extraCapabilities: { "anka-template": text },
      };
      for (const script of [
        renderBuiltInStartupScript(values),
        renderCustomStartupScript("true\n", values),
      ]) {
        const result = shellcheck(script);
        assert.equal(result.stdout + result.stderr, "", `for ${JSON.stringify(text)}`);
      }
    }
  });

  test("would report a finding (the check can fail)", () => {
    assert.notEqual(shellcheck("echo $1\n").status, 0);
  });
});
