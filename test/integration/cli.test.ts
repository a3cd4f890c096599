import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { CheckResult, DoctorReport, InstanceRow, TemplateRow } from "../../src/core/index.ts";
import type { CleanupOutput } from "../../src/cli/commands/cleanup.ts";
import type { StartOutput } from "../../src/cli/commands/start.ts";
import { startControllerEmulator } from "../../emulator/controller/index.ts";
import { buildCli } from "../../bin/build-cli.mjs";
import { makeCertificates } from "../helpers/certificates.ts";
import {
  clientKeyPem,
  ROOT_TOKEN,
  secretForms,
  UAK_ID,
  uakPrivateKeyPem,
  uakPublicKeyBase64,
  WRONG_ROOT_TOKEN,
} from "../helpers/secrets.ts";
import { CLI_BIN, spawnCli } from "../helpers/cli-process.ts";
import { PAT, POOL, READ_ONLY_PAT, startWorld, type World } from "../helpers/world.ts";

/**
 * `anka-azdo` driven as a user drives it: a separate process per command (bin/anka-azdo.mjs, as
 * npx runs it), settings from the environment, a config file or flags, against both emulators
 * (the controller with root-token authentication, startup scripts run for real in a sandbox where
 * the stand-in agent registers). Every transcript is scanned for secrets at the end.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = CLI_BIN;
const SONOMA_ID = "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c";
/** Every test secret in every form that could leak (test/helpers/secrets.ts). */
const SECRETS = secretForms();

interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

const transcripts: CliRun[] = [];
/** Still running: killed after the tests, so that a failed test cannot hang the file. */
const running = new Set<ChildProcess>();
let world: World;
let home: string;
/** The controller's clock offset: instances created while it is negative look old to `cleanup`. */
let clockOffsetMs = 0;

function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    ANKA_CONTROLLER_URL: world.controller.url,
    ANKA_ROOT_TOKEN: ROOT_TOKEN,
    AZP_URL: world.azdo.url,
    AZP_TOKEN: PAT,
    AZP_POOL: POOL,
    ...extra,
  };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
}

function launch(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { child: ChildProcess; output: () => string; finished: Promise<CliRun> } {
  const { child, output, finished } = spawnCli(args, {
    cwd: options.cwd ?? home,
    env: options.env ?? baseEnv(),
  });
  running.add(child);
  return {
    child,
    output,
    finished: finished.then((outcome) => {
      running.delete(child);
      const run = { args, ...outcome };
      transcripts.push(run);
      return run;
    }),
  };
}

function cli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return launch(args, options).finished;
}

/** The command line of a run, for messages: the test's secrets never appear in them. */
function masked(run: CliRun): string {
  return SECRETS.reduce((text, secret) => text.split(secret.value).join("***"), run.args.join(" "));
}

function parse<T>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    assert.fail(`stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** Bad input: exit 2 (or 1 for an unreachable host), exactly one line on stderr, no stack, nothing on stdout. */
function assertOneLineError(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code of ${masked(run)}: ${run.stderr}`);
  const lines = run.stderr.split("\n").filter((line) => line.trim() !== "");
  const errorLines = lines.filter((line) => line.startsWith("anka-azdo: error:"));
  assert.equal(errorLines.length, 1, run.stderr);
  assert.match(errorLines[0] ?? "", pattern);
  assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
  assert.equal(lines.length, code === 2 ? 1 : lines.length, `one line only: ${run.stderr}`);
  assert.equal(run.stdout, "");
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function checkOf(report: DoctorReport, id: CheckResult["id"]): CheckResult {
  const check = report.checks.find((c) => c.id === id);
  assert.ok(check, `no check ${id}`);
  return check;
}

const ESC = "\u001b";
const FAST = ["--poll-interval", "100ms"];
const execAsync = promisify(execFile);

before(async () => {
  home = mkdtempSync(path.join(tmpdir(), "anka-cli-"));
  // What `npm ci` does (prepare): the bin then runs the bundle, as in a fresh clone.
  await buildCli();
  world = await startWorld({
    controller: { auth: { rootToken: ROOT_TOKEN }, now: () => Date.now() + clockOffsetMs },
  });
});

after(async () => {
  for (const child of running) child.kill("SIGKILL");
  await world.close();
  rmSync(home, { recursive: true, force: true });
});

describe("anka-azdo", () => {
  describe("commands and checks", { concurrency: true }, () => {
    describe("bad input: one clear line on stderr, no stack trace", { concurrency: true }, () => {
      test("unknown flag → 2", async () => {
        assertOneLineError(await cli(["list", "--bogus"]), 2, /unknown option '--bogus'/);
      });

      test("missing value → 2", async () => {
        assertOneLineError(
          await cli(["start", "--agent-identifier", "x", "--template"]),
          2,
          /argument missing/,
        );
      });

      test("bad duration → 2", async () => {
        assertOneLineError(
          await cli(["cleanup", "--older-than", "soon"]),
          2,
          /"soon" is not a duration: use a number with a unit, e.g\. 90s, 30m, 2h/,
        );
      });

      test("not a number → 2", async () => {
        assertOneLineError(
          await cli(["start", "--template", "sonoma-14", "--agent-identifier", "x", "--priority", "urgent"]),
          2,
          /--priority .*"urgent" must be a whole number from 1 to 10000/,
        );
      });

      test("malformed JSON and YAML config files → 2, naming the file", async () => {
        const dir = mkdtempSync(path.join(home, "bad-config-"));
        writeFileSync(path.join(dir, "broken.json"), '{ "controller": { "url": ');
        writeFileSync(path.join(dir, "broken.yaml"), "controller:\n  url: [unclosed\n");
        writeFileSync(path.join(dir, "typo.json"), JSON.stringify({ controller: { ur: "http://x" } }));
        const [json, yaml, typo, missing] = await Promise.all([
          cli(["--config", "broken.json", "templates"], { cwd: dir }),
          cli(["--config", "broken.yaml", "templates"], { cwd: dir }),
          cli(["--config", "typo.json", "templates"], { cwd: dir }),
          cli(["--config", "nowhere.json", "templates"], { cwd: dir }),
        ]);
        assertOneLineError(json, 2, /broken\.json: not valid JSON: /);
        assertOneLineError(yaml, 2, /broken\.yaml: not valid YAML: /);
        assertOneLineError(
          typo,
          2,
          /typo\.json: controller\.ur is not a known key in controller\. Known keys: url, /,
        );
        assertOneLineError(missing, 2, /Config file .*nowhere\.json does not exist/);
      });

      test("a URL that is not one → 2; missing settings → 2 naming flag, env and file key", async () => {
        const [notUrl, missing] = await Promise.all([
          cli(["templates", "--controller-url", "anka.example.com"]),
          cli(["list"], { env: baseEnv({ AZP_POOL: undefined }) }),
        ]);
        assertOneLineError(notUrl, 2, /--controller-url "anka\.example\.com" is not a URL; write it in full/);
        assertOneLineError(missing, 2, /No agent pool: give --pool, set AZP_POOL, or set azureDevOps\.pool/);
      });

      test("unknown template → 2, listing the templates; nothing started", async () => {
        const run = await cli(["start", "--template", "sonoma-99", "--agent-identifier", "nope"]);
        assertOneLineError(run, 2, /Template "sonoma-99" not found .*Templates there: .*sonoma-14/);
      });

      test("unreachable controller → 1, one line with the cause", async () => {
        const port = await closedPort();
        const run = await cli(["templates", "--controller-url", `http://127.0.0.1:${port}`]);
        assertOneLineError(run, 1, /Cannot reach the Anka controller .*ECONNREFUSED/);
      });

      test("--json errors are one JSON document too", async () => {
        const run = await cli(["--json", "cleanup", "--older-than", "2x"]);
        assert.equal(run.code, 2);
        const document = parse<{ error: { kind: string; exitCode: number; message: string } }>(run);
        assert.equal(document.error.kind, "bad-input");
        assert.equal(document.error.exitCode, 2);
      });
    });

    test("templates: names, UUIDs, tags, arch (human and --json); needs only the controller settings", async () => {
      // The human run has no Azure DevOps settings: templates needs only the controller's.
      const controllerOnly = baseEnv({ AZP_URL: undefined, AZP_TOKEN: undefined, AZP_POOL: undefined });
      const [human, json] = await Promise.all([
        cli(["templates"], { env: controllerOnly }),
        cli(["templates", "--json"]),
      ]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^NAME +UUID +ARCH +TAGS/m);
      assert.match(human.stdout, new RegExp(`sonoma-14 +${SONOMA_ID} +arm64 +xcode-15\\.4, xcode-15, base`));
      const rows = parse<{ templates: TemplateRow[] }>(json).templates;
      const sonoma = rows.find((row) => row.name === "sonoma-14");
      assert.deepEqual(sonoma, {
        id: SONOMA_ID,
        name: "sonoma-14",
        arch: "arm64",
        tags: ["xcode-15.4", "xcode-15", "base"],
        latestTag: "xcode-15.4",
      });
      assert.ok(!(json.stdout + human.stdout).includes(ESC), "no escape codes when not a TTY");
    });

    test("doctor: all green, root token in use, exit 0", async () => {
      const [human, json] = await Promise.all([cli(["doctor"]), cli(["doctor", "--json"])]);
      assert.equal(human.code, 0, human.stdout + human.stderr);
      assert.match(human.stdout, /authentication: root token/);
      assert.match(human.stdout, /All checks passed/);
      const report = parse<DoctorReport>(json);
      assert.equal(report.ok, true);
      assert.equal(report.authMethod, "root token");
      for (const check of report.checks)
        assert.ok(check.status === "pass" || check.id === "controller.tls", `${check.id}: ${check.detail}`);
      assert.match(checkOf(report, "azdo.manage").detail, /answered 404, not 403/);
      assert.match(checkOf(report, "azdo.package").detail, /osx-arm64 .*osx-x64/);
    });

    describe("doctor names the failing check and its fix, exit 1", { concurrency: true }, () => {
      const failing = async (args: string[], env: NodeJS.ProcessEnv) => {
        const run = await cli(["doctor", "--json", ...args], { env });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /anka-azdo: error: \d check\(s\) failed/);
        return parse<DoctorReport>(run);
      };

      test("a wrong PAT", async () => {
        const report = await failing([], baseEnv({ AZP_TOKEN: "not-the-pat-000" }));
        const check = checkOf(report, "azdo.pat");
        assert.equal(check.status, "fail");
        assert.match(check.detail, /rejected the PAT \(HTTP 401\)/);
        assert.match(check.fix ?? "", /Agent Pools \(Read & manage\)/);
        assert.equal(checkOf(report, "azdo.pool").status, "skip");
        assert.equal(checkOf(report, "controller.templates").status, "pass");
      });

      test("an unknown pool", async () => {
        const report = await failing([], baseEnv({ AZP_POOL: "NoSuchPool" }));
        const check = checkOf(report, "azdo.pool");
        assert.equal(check.status, "fail");
        assert.match(
          check.detail,
          /"NoSuchPool" is unknown .*, or not visible to this PAT.*Pools this PAT can see: Default, Anka/,
        );
        assert.match(check.fix ?? "", /Create a self-hosted agent pool named "NoSuchPool"/);
      });

      test("a PAT that may read but not manage the pool", async () => {
        const report = await failing([], baseEnv({ AZP_TOKEN: READ_ONLY_PAT }));
        assert.equal(checkOf(report, "azdo.read").status, "pass");
        const check = checkOf(report, "azdo.manage");
        assert.equal(check.status, "fail");
        assert.match(check.detail, /needs Manage permissions/);
        assert.match(check.fix ?? "", /Administrator role on pool "Anka"/);
      });

      test("a wrong root token", async () => {
        const report = await failing([], baseEnv({ ANKA_ROOT_TOKEN: WRONG_ROOT_TOKEN }));
        const check = checkOf(report, "controller.auth");
        assert.equal(check.status, "fail");
        assert.match(check.title, /root token/);
        assert.match(check.detail, /refused the root token/);
      });

      test("no controller authentication where it is required", async () => {
        const report = await failing(["--auth", "none"], baseEnv());
        assert.match(checkOf(report, "controller.auth").detail, /requires authentication/);
      });

      test("an unreachable controller URL (human output shows the fix)", async () => {
        const port = await closedPort();
        const run = await cli(["doctor", "--controller-url", `http://127.0.0.1:${port}`]);
        assert.equal(run.code, 1);
        assert.match(
          run.stdout,
          /✖ FAIL {2}Anka controller reachable: Cannot reach the Anka controller .*ECONNREFUSED/,
        );
        assert.match(run.stdout, /fix: Check the host and port in the controller URL/);
        assert.match(run.stdout, /- skip {2}Templates in the registry/);
        assert.match(run.stdout, /✔ pass {2}PAT can manage the pool/);
      });
    });

    test("over TLS: an untrusted certificate fails doctor's TLS check; --ca-cert, client certificates and UAK work", async () => {
      const dir = mkdtempSync(path.join(home, "tls-"));
      const certs = await makeCertificates(dir);
      const files = {
        ca: path.join(dir, "ca.pem"),
        cert: path.join(dir, "client-cert.pem"),
        key: path.join(dir, "client-key.pem"),
        uak: path.join(dir, "uak.pem"),
      };
      writeFileSync(files.ca, certs.caPem);
      writeFileSync(files.cert, certs.clientCertPem);
      writeFileSync(files.key, clientKeyPem(), { mode: 0o600 });
      writeFileSync(files.uak, uakPrivateKeyPem(), { mode: 0o600 });
      const controller = await startControllerEmulator({
        tls: { cert: certs.serverCertPem, key: certs.serverKeyPem, ca: certs.caPem },
        auth: { rootToken: ROOT_TOKEN, apiKeys: true, clientCertificates: true },
      });
      try {
        await registerUak(controller.url, certs.caPem);
        const env = (extra: Record<string, string | undefined>) =>
          baseEnv({ ANKA_CONTROLLER_URL: controller.url, ANKA_ROOT_TOKEN: undefined, ...extra });
        const doctor = (args: string[], extra: Record<string, string | undefined>) =>
          cli(["doctor", "--json", ...args], { env: env(extra) });
        const [untrusted, rootToken, certificate, uak, both] = await Promise.all([
          doctor([], { ANKA_ROOT_TOKEN: ROOT_TOKEN }),
          doctor(["--ca-cert", files.ca], { ANKA_ROOT_TOKEN: ROOT_TOKEN }),
          doctor(["--ca-cert", files.ca, "--client-cert", files.cert, "--client-key", files.key], {}),
          doctor([], { ANKA_CA_CERT_FILE: files.ca, ANKA_UAK_ID: UAK_ID, ANKA_UAK_KEY_FILE: files.uak }),
          cli(["templates"], {
            env: env({ ANKA_ROOT_TOKEN: ROOT_TOKEN, ANKA_UAK_ID: UAK_ID, ANKA_UAK_KEY: uakPrivateKeyPem() }),
          }),
        ]);
        assert.equal(untrusted.code, 1);
        const tls = checkOf(parse<DoctorReport>(untrusted), "controller.tls");
        assert.equal(tls.status, "fail");
        assert.match(tls.detail, /not signed by a CA this agent trusts|self-signed/);
        assert.match(tls.fix ?? "", /--ca-cert/);
        for (const [run, method] of [
          [rootToken, "root token"],
          [certificate, "client certificate"],
          [uak, "UAK"],
        ] as const) {
          assert.equal(run.code, 0, run.stdout + run.stderr);
          const report = parse<DoctorReport>(run);
          assert.equal(report.authMethod, method);
          assert.match(checkOf(report, "controller.tls").detail, /verified against the given CA/);
        }
        assertOneLineError(
          both,
          2,
          /Settings for root-token and uak authentication are all given: choose one with --auth/,
        );
      } finally {
        await controller.close();
      }
    });

    test("settings: flag > env > config file; ${VAR} in the file; warnings for secrets in flags", async () => {
      const dir = mkdtempSync(path.join(home, "config-"));
      writeFileSync(
        path.join(dir, "anka-azdo.yaml"),
        [
          "controller:",
          "  url: ${MY_CONTROLLER}",
          "  auth: { rootToken: '${MY_ROOT}' }",
          "azureDevOps:",
          `  url: ${world.azdo.url}`,
          "  token: ${MY_PAT}",
          "  pool: FromFile",
          "",
        ].join("\n"),
      );
      const fileOnly = {
        PATH: process.env.PATH,
        HOME: home,
        MY_CONTROLLER: world.controller.url,
        MY_ROOT: ROOT_TOKEN,
        MY_PAT: PAT,
      };
      const [file, env, flag, secretFlag] = await Promise.all([
        cli(["doctor", "--json"], { cwd: dir, env: fileOnly }),
        cli(["doctor", "--json"], { cwd: dir, env: { ...fileOnly, AZP_POOL: POOL } }),
        cli(["doctor", "--json", "--pool", "Default"], {
          cwd: dir,
          env: { ...fileOnly, AZP_POOL: "FromEnv" },
        }),
        cli(["templates", "--root-token", ROOT_TOKEN, "--pat", PAT], {
          env: baseEnv({ ANKA_ROOT_TOKEN: undefined }),
        }),
      ]);
      assert.equal(parse<DoctorReport>(file).pool, "FromFile");
      assert.equal(checkOf(parse<DoctorReport>(file), "controller.auth").status, "pass");
      assert.equal(parse<DoctorReport>(env).pool, POOL);
      assert.equal(env.code, 0, env.stdout);
      assert.equal(parse<DoctorReport>(flag).pool, "Default");
      assert.equal(secretFlag.code, 0, secretFlag.stderr);
      assert.match(
        secretFlag.stderr,
        /warning: --root-token puts a secret in the process list .*set ANKA_ROOT_TOKEN/,
      );
      assert.match(secretFlag.stderr, /warning: --pat puts a secret in the process list .*set AZP_TOKEN/);

      // A clear-text secret in a file others may read is worth a warning.
      const loose = path.join(dir, "loose.json");
      writeFileSync(loose, JSON.stringify({ azureDevOps: { token: PAT } }));
      chmodSync(loose, 0o644);
      const warned = await cli(["--config", loose, "templates"]);
      assert.equal(warned.code, 0, warned.stderr);
      assert.match(warned.stderr, /holds azureDevOps\.token in clear .*chmod 600/);
    });

    test(
      "TTY: a spinner and colors on a terminal, plain lines otherwise",
      { skip: !hasScript() },
      async () => {
        const env = { ...baseEnv(), TERM: "xterm" };
        const command = [process.execPath, BIN, "templates"].map((arg) => `'${arg}'`).join(" ");
        // Never execFileSync here: the emulators live in this process and must keep answering.
        const { stdout: tty } = await execAsync("script", ["-qfec", command, "/dev/null"], {
          cwd: home,
          env,
        });
        transcripts.push({ args: ["(tty) templates"], code: 0, stdout: tty, stderr: "" });
        assert.ok(tty.includes(`${ESC}[?25l`), "the spinner hides the cursor");
        assert.match(tty, /Listing templates/);
        assert.ok(tty.includes(`${ESC}[1mNAME`), "the table header is bold");
        assert.match(tty, /sonoma-14/);
        const plain = await cli(["templates"]);
        assert.equal(plain.stderr, "Listing templates\n", "one plain progress line on a pipe");
        assert.ok(!(plain.stdout + plain.stderr).includes(ESC));
      },
    );

    test("without a fresh bundle the bin runs the sources through tsx", async () => {
      // A clone whose sources are newer than its bundle (here: none at all), sharing src and node_modules.
      const clone = mkdtempSync(path.join(home, "clone-"));
      mkdirSync(path.join(clone, "bin"));
      copyFileSync(BIN, path.join(clone, "bin", "anka-azdo.mjs"));
      copyFileSync(path.join(ROOT, "package.json"), path.join(clone, "package.json"));
      symlinkSync(path.join(ROOT, "src"), path.join(clone, "src"));
      symlinkSync(path.join(ROOT, "node_modules"), path.join(clone, "node_modules"));
      const child = spawn(
        process.execPath,
        [path.join(clone, "bin", "anka-azdo.mjs"), "--debug", "templates"],
        {
          cwd: home,
          env: baseEnv(),
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      transcripts.push({ args: ["(tsx) --debug templates"], code, stdout, stderr });
      assert.equal(code, 0, stderr);
      assert.match(stderr, /^debug: running the sources in .* through tsx$/m);
      assert.match(stdout, /sonoma-14/);
      const bundled = await cli(["--debug", "templates"]);
      assert.match(bundled.stderr, /^debug: running the bundle .*build\/cli\/anka-azdo\.mjs$/m);
    });

    test("npx finds the package's own bin in a clone", async () => {
      // --no: never ask the registry; no update check either. `--` keeps npx off our options.
      const { stdout } = await execAsync("npx", ["--no", "--", "anka-azdo", "--version"], {
        cwd: ROOT,
        env: baseEnv({ npm_config_update_notifier: "false" }),
      });
      assert.match(stdout.trim(), /^\d+\.\d+\.\d+$/);
    });

    // Sequential inside (they share the pool and the controller's clock), concurrent with the rest.
    describe(
      "a VM's life: start, list, terminate, cleanup, timeouts, cancellation",
      { concurrency: 1 },
      () => {
        test("start → agent online; list shows it; terminate leaves nothing", async () => {
          const started = await cli([
            "start",
            "--json",
            "--template",
            "sonoma-14",
            "--tag",
            "base",
            "--agent-identifier",
            "cli-1",
            ...FAST,
          ]);
          assert.equal(started.code, 0, started.stderr);
          const result = parse<StartOutput>(started);
          assert.equal(result.agentName, "anka-cli-1");
          assert.equal(result.agentIdentifier, "cli-1");
          assert.equal(result.templateName, "sonoma-14");
          assert.equal(result.tag, "base");
          assert.match(result.instanceId, /^[0-9a-f-]{36}$/);
          assert.ok(result.nodeId);
          assert.match(result.vmIp, /^\d+\.\d+\.\d+\.\d+$/);
          assert.match(
            started.stderr,
            /Agent anka-cli-1 is online in pool "Anka"/,
            "progress goes to stderr",
          );
          const agent = world.azdo.agents(POOL).find((a) => a.name === "anka-cli-1");
          assert.equal(agent?.status, "online");
          assert.equal(agent?.systemCapabilities.ANKA_AGENT_IDENTIFIER, "cli-1");

          const [listed, human] = await Promise.all([cli(["list", "--json"]), cli(["list"])]);
          const row = parse<{ instances: InstanceRow[] }>(listed).instances.find(
            (r) => r.instanceId === result.instanceId,
          );
          assert.equal(row?.agentStatus, "online");
          assert.equal(row?.state, "Started");
          assert.equal(row?.templateName, "sonoma-14");
          assert.equal(row?.agentName, "anka-cli-1");
          assert.ok((row?.ageMs ?? -1) >= 0);
          assert.match(human.stdout, /^INSTANCE +STATE +AGE +TEMPLATE/m);
          assert.match(
            human.stdout,
            new RegExp(`${result.instanceId} +Started +\\d+ s +sonoma-14 +base +anka-cli-1 +online`),
          );

          const terminated = await cli(["terminate", "--agent-identifier", "cli-1"]);
          assert.equal(terminated.code, 0, terminated.stderr);
          assert.match(terminated.stdout, new RegExp(`Terminated ${result.instanceId}`));
          await until(() => world.leftovers().instances === 0);
          assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });

          const again = await cli(["terminate", "--json", "--agent-identifier", "cli-1"]);
          assert.equal(again.code, 0, "idempotent");
          assert.equal(parse<{ warnings: string[] }>(again).warnings.length, 2);
        });

        test("cleanup: dry run lists old VMs without an agent and orphan agents; --yes removes them; young VMs stay", async () => {
          const script = path.join(home, "no-agent.sh");
          writeFileSync(script, "echo 'this VM never starts an agent'\n");
          const noAgent = (id: string) =>
            cli([
              "start",
              "--template",
              "sonoma-14",
              "--agent-identifier",
              id,
              "--startup-script-file",
              script,
              "--no-wait-for-agent",
              ...FAST,
            ]);
          clockOffsetMs = -3 * 3_600_000;
          const old = await noAgent("old-1");
          clockOffsetMs = 0;
          const young = await noAgent("young-1");
          assert.equal(old.code, 0, old.stderr);
          assert.equal(young.code, 0, young.stderr);
          assert.match(old.stdout, /anka-old-1 \(pool "Anka"; not waited for\)/);
          // An agent whose VM died before it could be removed: registered, never connected.
          const response = await fetch(
            `${world.azdo.url}/_apis/distributedtask/pools/10/agents?api-version=7.1`,
            {
              method: "POST",
              headers: {
                authorization: `Basic ${Buffer.from(`:${PAT}`).toString("base64")}`,
                "content-type": "application/json",
              },
              body: JSON.stringify({ name: "anka-orphan-7", version: "4.264.2" }),
            },
          );
          assert.equal(response.status, 200);
          const before = world.leftovers();
          assert.equal(before.instances, 2);
          assert.deepEqual(before.agents, ["anka-orphan-7"]);

          const [dry, dryHuman] = await Promise.all([
            cli(["cleanup", "--older-than", "2h", "--json"]),
            cli(["cleanup", "--older-than", "2h"]),
          ]);
          assert.equal(dry.code, 0, dry.stderr);
          const found = parse<CleanupOutput>(dry);
          assert.equal(found.dryRun, true);
          assert.deepEqual(
            found.leftovers.instances.map((i) => [i.agentName, i.agentStatus]),
            [["anka-old-1", "missing"]],
          );
          assert.ok(found.leftovers.instances[0]!.ageMs > 2 * 3_600_000);
          assert.deepEqual(
            found.leftovers.agents.map((a) => a.agentName),
            ["anka-orphan-7"],
          );
          assert.deepEqual(
            found.leftovers.kept.map((k) => k.agentName),
            ["anka-young-1"],
          );
          assert.match(found.leftovers.kept[0]!.reason, /younger than 2 h/);
          assert.equal(found.removal, undefined);
          assert.match(dryHuman.stdout, /Dry run: nothing was removed/);
          assert.deepEqual(world.leftovers(), before, "a dry run removes nothing");

          const removed = await cli(["cleanup", "--older-than", "2h", "--yes", "--json"]);
          assert.equal(removed.code, 0, removed.stderr);
          assert.deepEqual(
            parse<CleanupOutput>(removed).removal?.records.map((r) => [r.kind, r.name, r.outcome]),
            [
              ["instance", "anka-old-1", "removed"],
              ["agent", "anka-orphan-7", "removed"],
            ],
          );
          await until(() => world.leftovers().instances === 1);
          assert.deepEqual(world.leftovers(), { instances: 1, agents: [] }, "the young VM is kept");
          const young1 = parse<{ instances: InstanceRow[] }>(await cli(["list", "--json"])).instances;
          assert.deepEqual(
            young1.map((r) => [r.agentName, r.agentStatus]),
            [["anka-young-1", "missing"]],
          );

          await cli(["terminate", "--agent-identifier", "young-1"]);
          await until(() => world.leftovers().instances === 0);
        });

        test("timeout → exit 3, rolled back", async () => {
          world.controller.addFault({ kind: "stuck-scheduling", externalId: "cli-slow" });
          const run = await cli([
            "start",
            "--template",
            "sonoma-14",
            "--agent-identifier",
            "cli-slow",
            "--start-timeout",
            "1s",
            ...FAST,
          ]);
          assert.equal(run.code, 3, run.stderr);
          assert.match(
            run.stderr,
            /anka-azdo: error: Instance .* was not Started within 1 s; last state: Scheduling/,
          );
          assert.match(run.stderr, /Rolling back/);
          await until(() => world.leftovers().instances === 0);
          assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
        });

        test("SIGINT → rollback, exit 130; a second signal does not abandon the rollback", async () => {
          world.controller.addFault({ kind: "stuck-scheduling", externalId: "cli-cancel" });
          world.controller.addFault({ method: "DELETE", path: "/api/v1/vm", kind: "delay", delayMs: 800 });
          const start = launch([
            "start",
            "--json",
            "--template",
            "sonoma-14",
            "--agent-identifier",
            "cli-cancel",
            ...FAST,
          ]);
          await until(() => /Requested instance/.test(start.output()), 15_000);
          start.child.kill("SIGINT");
          await until(() => /Rolling back/.test(start.output()));
          start.child.kill("SIGTERM");
          const run = await start.finished;
          assert.equal(run.code, 130, run.stderr);
          assert.match(run.stderr, /Received SIGTERM again: still rolling back/);
          assert.equal(parse<{ error: { kind: string } }>(run).error.kind, "cancelled");
          await until(() => world.leftovers().instances === 0);
          assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
        });
      },
    );
  });

  test("no secret in any output: PAT, read-only PAT, root token, their Basic forms", () => {
    assert.ok(transcripts.length >= 30, `only ${transcripts.length} transcripts`);
    for (const run of transcripts) {
      for (const secret of SECRETS) {
        assert.ok(
          !run.stdout.includes(secret.value) && !run.stderr.includes(secret.value),
          `${secret.label} leaked by ${masked(run)}`,
        );
      }
    }
  });
});

/** POST /api/v1/apikey with the root token: registers the public half of the tests' fixed UAK key. */
async function registerUak(controllerUrl: string, ca: string): Promise<void> {
  const body = JSON.stringify({ id: UAK_ID, ttl: 3600, publicKey: uakPublicKeyBase64() });
  const answer = await new Promise<string>((resolve, reject) => {
    const request = httpsRequest(
      new URL("/api/v1/apikey", controllerUrl),
      {
        method: "POST",
        ca,
        headers: {
          "content-type": "application/json",
          authorization: `Basic ${Buffer.from(`root:${ROOT_TOKEN}`).toString("base64")}`,
        },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve(text));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
  assert.equal((JSON.parse(answer) as { status: string }).status, "OK", answer);
}

function hasScript(): boolean {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
