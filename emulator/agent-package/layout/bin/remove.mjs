// `config.sh remove --unattended --auth pat --token <pat>` (azure-pipelines-agent.md §4): deletes the
// agent on the server with the PAT from the command line (not the agent's own key), by the agentId in
// `.agent`, then the local files. A server error stops before any local file is deleted.
import { AgentServer } from "./agent-server.mjs";
import { basicPat } from "./credentials.mjs";

const LOCAL_FILES = [
  [".credentials", ".credentials_rsaparams"],
  [".proxy", ".proxycredentials", ".proxybypass", ".certificates", ".options", ".agent"],
];

export async function remove({ files, settings, makeHttp, term, proxy }) {
  if (files.exists(".service")) {
    term.error(
      "Unconfigure service first according to https://www.visualstudio.com/en-us/docs/build/admin/agents/v2-osx",
    );
    return 1;
  }
  for (const secret of settings.secrets()) term.addSecret(secret);
  if (files.exists(".agent") && files.exists(".credentials")) {
    const agentSettings = files.readJson(".agent");
    term.line("Removing agent from the server");
    try {
      const auth = settings.arg("auth")?.toLowerCase() ?? "pat";
      const token = settings.arg("token");
      if (auth !== "pat" || !token) {
        throw new Error(
          `Invalid configuration provided for ${auth !== "pat" ? "auth" : "token"}. Terminating unattended configuration.`,
        );
      }
      const server = new AgentServer(makeHttp(proxy), agentSettings.serverUrl, async () => basicPat(token));
      term.line("Connecting to server ...");
      await server.connectionData();
      const found = await server.findAgent(agentSettings.poolId, agentSettings.agentName);
      if (found) {
        await server.deleteAgent(agentSettings.poolId, agentSettings.agentId);
        term.line("Succeeded: Removing agent from the server");
      } else {
        term.line("Does not exist. Skipping Removing agent from the server");
      }
    } catch (error) {
      term.error("Failed: Removing agent from the server");
      term.error(error.message);
      return 1;
    }
  } else {
    term.line(
      "Cannot connect to server, because config files are missing. Skipping removing agent from the server.",
    );
  }
  const [credentialFiles, settingFiles] = LOCAL_FILES;
  term.line("Removing .credentials");
  for (const name of credentialFiles) files.remove(name);
  term.line("Succeeded: Removing .credentials");
  term.line("Removing .agent");
  for (const name of settingFiles) files.remove(name);
  term.line("Succeeded: Removing .agent");
  return 0;
}
