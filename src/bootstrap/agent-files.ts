import type { RegisteredAgent } from "../azdo/registration.ts";
import { agentJsonText } from "./agent-key.ts";

/** The three files a pre-registered agent needs next to `run.sh` (agent-registration.md §1.2). */
export interface AgentFiles {
  /** `.agent`: the settings. */
  agent: string;
  /** `.credentials`: the OAuth client, no secret. */
  credentials: string;
  /** `.credentials_rsaparams`: the private key. Secret. */
  rsaParams: string;
}

/** The agent's work folder, relative to its root: what `config.sh` writes by default. */
export const AGENT_WORK_FOLDER = "_work";

/**
 * `.agent` and `.credentials` exactly as `config.sh --acceptTeeEula` writes them after this
 * registration: camel-case members in the agent's order, nothing else (an `agentCloudId` would make
 * the agent think it is Microsoft-hosted), `.credentials` with scheme OAuth and no secret (§1.3, §1.4).
 */
export function renderAgentFiles(agent: RegisteredAgent, rsaParamsFile: string): AgentFiles {
  const settings = {
    acceptTeeEula: true,
    agentId: agent.id,
    agentName: agent.name,
    poolId: agent.poolId,
    poolName: agent.poolName,
    serverUrl: agent.serverUrl,
    workFolder: AGENT_WORK_FOLDER,
  };
  const credentials = {
    scheme: "OAuth",
    data: {
      clientId: agent.clientId,
      authorizationUrl: agent.authorizationUrl,
      oauthEndpointUrl: agent.oauthEndpointUrl,
    },
  };
  return {
    agent: agentJsonText(settings),
    credentials: agentJsonText(credentials),
    rsaParams: rsaParamsFile,
  };
}
