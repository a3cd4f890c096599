/**
 * The startup script that runs inside the VM and registers a single-use Azure Pipelines agent
 * (contract §5), and its rendering. One place renders it; docs/startup-script.md documents it.
 */
export { renderBuiltInStartupScript } from "./built-in-script.ts";
export { renderCustomStartupScript } from "./custom-script.ts";
export { shellQuote } from "./shell-quote.ts";
export { validateBootstrapValues } from "./validate.ts";
export { AGENT_IDENTIFIER_CAPABILITY, agentNameFor, type BootstrapValues } from "./values.ts";
export {
  AGENT_IGNORED_VARIABLES,
  STARTUP_SCRIPT_VARIABLES,
  type StartupScriptVariableName,
} from "./variables.ts";
export { renderAgentFiles, AGENT_WORK_FOLDER, type AgentFiles } from "./agent-files.ts";
export { createAgentKey, generateAgentPrivateKey, agentJsonText, type AgentKey } from "./agent-key.ts";
