import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { Cancellation } from "./cancel.ts";
import { registerAgentCommands } from "./commands/agent.ts";
import { registerCleanup } from "./commands/cleanup.ts";
import { registerDoctor } from "./commands/doctor.ts";
import { registerList } from "./commands/list.ts";
import { registerPool } from "./commands/pool.ts";
import { registerStart } from "./commands/start.ts";
import { registerTemplates } from "./commands/templates.ts";
import { registerTerminate } from "./commands/terminate.ts";
import { SETTINGS } from "../config/schema.ts";
import { CONFIG_ENV, defaultConfigFiles } from "./config.ts";
import { errorKind, ExitCode, exitCodeFor, ReportedFailure } from "./errors.ts";
import { Output } from "./output.ts";
import type { Runtime } from "./runtime.ts";
import { guardStreams, SecretScrubber } from "./secrets.ts";

/**
 * `anka-azdo`: the command-line adapter over the same core as the pipeline tasks. It parses flags,
 * reads settings, calls one core function per command and prints the result; no flow logic here.
 */
export interface Io {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export async function main(io: Io): Promise<number> {
  const scrubber = new SecretScrubber();
  guardStreams(scrubber, [io.stdout, io.stderr]);
  // Mask secrets before anything can print them, even a usage error that echoes an argument.
  for (const spec of SETTINGS) if (spec.secret) scrubber.register(io.env[spec.env] ?? "");
  for (const value of secretArguments(io.argv)) scrubber.register(value);

  const flagged = (flag: string) => optionArguments(io.argv).includes(flag);
  const output = new Output({
    json: flagged("--json"),
    debug: flagged("--debug"),
    stdout: io.stdout,
    stderr: io.stderr,
    env: io.env,
  });
  const cancellation = new Cancellation(output);
  const runtime: Runtime = { output, scrubber, cancellation, env: io.env, cwd: io.cwd, home: io.home };
  const program = buildProgram(runtime, io);
  try {
    await program.parseAsync(io.argv, { from: "user" });
    return cancellation.cancelled ? ExitCode.cancelled : ExitCode.ok;
  } catch (error) {
    const code = exitCodeFor(error, cancellation.cancelled);
    if (error instanceof CommanderError) {
      if (code === ExitCode.ok) return code;
      // Help shown because no command was given: commander printed it already.
      if (error.code === "commander.help" || error.code === "commander.executeSubCommandAsync")
        return ExitCode.badInput;
    }
    const message = oneLine(messageOf(error, cancellation.cancelled));
    output.error(message, (error as Error)?.stack);
    // A reported failure (doctor's failed checks) already printed its document.
    if (output.json && !(error instanceof ReportedFailure))
      output.document({ error: { kind: errorKind(code), exitCode: code, message } });
    return code;
  } finally {
    output.done();
    cancellation.dispose();
  }
}

function messageOf(error: unknown, cancelled: boolean): string {
  if (error instanceof CommanderError) {
    const text = error.message.replace(/^error:\s*/i, "");
    return `${text}${/\.$/.test(text) ? "" : "."} See anka-azdo --help.`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return cancelled && !/cancel/i.test(message) ? `Cancelled: ${message}` : message;
}

/** Usage errors are one line; failures keep their lines (a startup script's stderr tail) but no stack. */
function oneLine(message: string): string {
  return message.includes("Its last output:") ? message : message.replace(/\s*\n\s*/g, " ").trim();
}

function buildProgram(runtime: Runtime, io: Io): Command {
  const program = new Command("anka-azdo")
    .description(
      "Run Azure Pipelines agents on macOS VMs from Veertu Anka Build Cloud: start, list, terminate and clean up VMs, check a connection.",
    )
    .version(packageVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Printed once, on one line, by main (with the exit code it deserves).
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .option(
      "--config <file>",
      `config file, JSON or YAML [env ${CONFIG_ENV}] (default: the first of ${describeDefaults(io)})`,
    )
    .option("--json", "print one JSON document on stdout (logs stay on stderr)")
    .option("--debug", "print debug lines and stack traces");
  for (const spec of SETTINGS) {
    if (!spec.flags) continue;
    const shown = spec.default === "none" || spec.default === "required" ? "" : `; default ${spec.default}`;
    program.addOption(
      new Option(spec.flags, `${spec.description} [env ${spec.env}; file ${spec.file}${shown}]`),
    );
  }
  program.addHelpText("after", helpFooter());

  registerStart(program, runtime);
  registerTerminate(program, runtime);
  registerList(program, runtime);
  registerTemplates(program, runtime);
  registerCleanup(program, runtime);
  registerDoctor(program, runtime);
  registerPool(program, runtime);
  registerAgentCommands(program, runtime);
  return program;
}

function describeDefaults(io: Io): string {
  return defaultConfigFiles(".", io.env, "~")
    .map((file) => file.replace(/^\.\//, "./"))
    .join(", ");
}

function helpFooter(): string {
  const envLines = SETTINGS.map((spec) => `  ${spec.env.padEnd(28)} ${spec.file}`).join("\n");
  return `
Settings come from flags, else environment variables, else the config file (--config, ${CONFIG_ENV},
or ./anka-azdo.json|yaml, else ~/.config/anka-azdo/config.json|yaml). In the file, "\${NAME}" takes
the environment variable NAME, so secrets need not be written there.
Environment variable          config file key
${envLines}

Exit codes: 0 success, 1 failure, 2 bad input (usage, settings, unknown template),
3 timeout (instance not Started / agent not online in time), 130 cancelled (SIGINT/SIGTERM).
Full reference: docs/cli.md`;
}

/** Values of --pat / --root-token on the command line: masked before parsing. */
function secretArguments(argv: string[]): string[] {
  const flags = SETTINGS.filter((spec) => spec.secret && spec.flags).map(
    (spec) => spec.flags?.split(" ")[0] as string,
  );
  const values: string[] = [];
  argv.forEach((arg, index) => {
    for (const flag of flags) {
      if (arg === flag && argv[index + 1] !== undefined) values.push(argv[index + 1] as string);
      else if (arg.startsWith(`${flag}=`)) values.push(arg.slice(flag.length + 1));
    }
  });
  return values;
}

/** Arguments before `--`. */
function optionArguments(argv: string[]): string[] {
  const end = argv.indexOf("--");
  return end < 0 ? argv : argv.slice(0, end);
}

function packageVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}
