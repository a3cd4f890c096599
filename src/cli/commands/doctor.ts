import type { Command } from "commander";
import { diagnose, type CheckResult, type DoctorReport } from "../../core/index.ts";
import { abortable } from "../cancel.ts";
import { ReportedFailure } from "../errors.ts";
import type { Colors } from "../output.ts";
import { settingsFor, type Runtime } from "../runtime.ts";

/** `anka-azdo doctor`: checks the connection end to end; exit 1 when a check fails. */
export interface DoctorOptions {
  /** Also check this template (and tag), and the agent package of its platform only. */
  template?: string;
  tag?: string;
}

export function registerDoctor(program: Command, runtime: Runtime): void {
  program
    .command("doctor")
    .description(
      "check the connection end to end (controller, TLS, authentication, templates, pool, PAT rights, agent package) and say how to fix what fails",
    )
    .option("--template <name-or-uuid>", "also check that this template resolves")
    .option("--tag <tag>", "with --template: also check this tag")
    .action(async (options: DoctorOptions, command: Command) => {
      const report = await runDoctor(options, command, runtime);
      runtime.output.result(() => renderDoctor(report, runtime.output.out), report);
      const failed = report.checks.filter((check) => check.status === "fail");
      if (failed.length > 0)
        throw new ReportedFailure(
          `${failed.length} check(s) failed: ${failed.map((check) => check.title).join(", ")}`,
        );
    });
}

export async function runDoctor(
  options: DoctorOptions,
  command: Command,
  runtime: Runtime,
): Promise<DoctorReport> {
  const settings = settingsFor(command, runtime);
  runtime.output.progress(
    `Checking ${settings.connection.controllerUrl} and ${settings.connection.agent.azureDevOpsUrl}`,
  );
  return abortable(
    diagnose(settings.connection, runtime.output.log, runtime.scrubber.register, {
      template: options.template,
      tag: options.tag,
    }),
    runtime.cancellation.signal,
  );
}

const MARKS: Record<CheckResult["status"], (colors: Colors) => string> = {
  pass: (c) => c.green("✔ pass"),
  warn: (c) => c.yellow("! warn"),
  fail: (c) => c.red("✖ FAIL"),
  skip: (c) => c.dim("- skip"),
};

export function renderDoctor(report: DoctorReport, colors: Colors): string[] {
  const lines = [
    `Controller ${report.controllerUrl} (${report.controllerVersion ? `version ${report.controllerVersion}, ` : ""}authentication: ${report.authMethod ?? "?"})`,
    `Azure DevOps ${report.azureDevOpsUrl}, pool "${report.pool}"`,
    "",
  ];
  for (const check of report.checks) {
    lines.push(`${MARKS[check.status](colors)}  ${check.title}: ${check.detail}`);
    if (check.fix && (check.status === "fail" || check.status === "warn"))
      lines.push(`        fix: ${check.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === "fail").length;
  lines.push(
    "",
    failed === 0 ? colors.green("All checks passed.") : colors.red(`${failed} check(s) failed.`),
  );
  return lines;
}
