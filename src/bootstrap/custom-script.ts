import { shellQuote } from "./shell-quote.ts";
import { validateBootstrapValues } from "./validate.ts";
import type { BootstrapValues } from "./values.ts";
import { AGENT_IGNORED_VARIABLES, renderVariableAssignments, STARTUP_SCRIPT_VARIABLES } from "./variables.ts";

/**
 * A user's own startup script (connection or task input), preceded by the documented variables,
 * exported, so it can register the agent its own way (docs/startup-script.md). VSO_AGENT_IGNORE is
 * exported too, so that a config.sh run from this environment does not publish ANKA_AZP_TOKEN as a
 * capability; removing the PAT before run.sh remains the script's job.
 */
export function renderCustomStartupScript(customScript: string, values: BootstrapValues): string {
  if (customScript.trim() === "") {
    throw new Error(
      "The custom startup script is empty: write a script, or clear the field to use the built-in one.",
    );
  }
  if (customScript.includes("\0")) {
    throw new Error("The custom startup script contains a NUL character: save it as plain text.");
  }
  validateBootstrapValues(values);
  const names = [...STARTUP_SCRIPT_VARIABLES.map((variable) => variable.name), "VSO_AGENT_IGNORE"];
  return (
    "# Values from the Anka Start task; see docs/startup-script.md. ANKA_AZP_TOKEN is secret:\n" +
    "# never print it, pass it to config.sh as VSTS_AGENT_INPUT_TOKEN and unset it before run.sh.\n" +
    renderVariableAssignments(values, [
      `VSO_AGENT_IGNORE=${shellQuote(AGENT_IGNORED_VARIABLES.join(","))}`,
      `export ${names.join(" ")}`,
    ]) +
    "# ---- custom startup script ----\n" +
    (customScript.endsWith("\n") ? customScript : `${customScript}\n`)
  );
}
