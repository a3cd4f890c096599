import type { AzureDevOpsClient } from "./client.ts";
import { AzureDevOpsError } from "./errors.ts";
import type { AgentPool } from "./model.ts";

/**
 * Registering an agent from outside its machine, as `config.sh --auth pat --replace` does it
 * (agent-registration.md §2): the same requests, so that the files we render from the answer are
 * the ones `config.sh` would have written, and the PAT never has to reach the machine.
 */
export interface KeyedAgentRegistration {
  name: string;
  /** The version of the agent package the machine will run (§6): the server checks it. */
  version: string;
  osDescription: string;
  /** RSA public key, standard base64 (`exponent` "AQAB", 344-character `modulus`). */
  publicKey: { exponent: string; modulus: string };
  /** Provisional: the agent's first session replaces them with its own scan (§5.2). */
  systemCapabilities: Record<string, string>;
  /** Routing values: user capabilities survive the sessions' scans (§5.4). */
  userCapabilities: Record<string, string>;
}

/** What the service answered a registration with: the parts `config.sh` turns into files (§2.3). */
export interface RegisteredAgent {
  id: number;
  name: string;
  poolId: number;
  poolName: string;
  /** `.agent` serverUrl (§2.5). */
  serverUrl: string;
  clientId: string;
  authorizationUrl: string;
  /** Where the token request goes; equal to authorizationUrl on dev.azure.com (§1.4). */
  oauthEndpointUrl: string;
}

const EMPTY_GUID = "00000000-0000-0000-0000-000000000000";

interface TaskAgentAnswer {
  id?: unknown;
  name?: unknown;
  authorization?: { clientId?: unknown; authorizationUrl?: unknown };
  properties?: { ServerUrl?: { $value?: unknown } };
  [member: string]: unknown;
}

/**
 * Registers the agent with `registration.publicKey`, replacing an agent of the same name (PUT on
 * its id, which keeps the record and drops the old key, §2.4), then sets its user capabilities.
 * Three requests for a new name, four when one is replaced.
 */
export async function registerAgentWithKey(
  azdo: AzureDevOpsClient,
  pool: AgentPool,
  registration: KeyedAgentRegistration,
): Promise<RegisteredAgent> {
  const agentsPath = `_apis/distributedtask/pools/${pool.id}/agents`;
  const context = { pool: pool.name, manage: true };
  const body = {
    name: registration.name,
    version: registration.version,
    osDescription: registration.osDescription,
    maxParallelism: 1,
    provisioningState: "Provisioned",
    authorization: { publicKey: registration.publicKey },
    systemCapabilities: registration.systemCapabilities,
  };
  // The fetched record with the new key, version and capabilities, as UpdateExistingAgent sends it.
  const replace = async (existing: TaskAgentAnswer) =>
    (
      await azdo.request(
        "PUT",
        `${agentsPath}/${String(existing.id)}`,
        {},
        {
          ...context,
          body: { ...existing, ...body, authorization: { publicKey: registration.publicKey } },
        },
      )
    ).body as TaskAgentAnswer;
  const existing = await findExisting(azdo, agentsPath, registration.name, pool.name);
  let answer: TaskAgentAnswer;
  try {
    answer = existing
      ? await replace(existing)
      : ((await azdo.request("POST", agentsPath, {}, { ...context, body })).body as TaskAgentAnswer);
  } catch (error) {
    // 409: registered meanwhile, e.g. by our own POST whose answer was lost and which was retried.
    const raced =
      !existing && error instanceof AzureDevOpsError && error.httpStatus === 409
        ? await findExisting(azdo, agentsPath, registration.name, pool.name)
        : undefined;
    if (!raced) throw error;
    answer = await replace(raced);
  }
  const registered = registeredAgentFrom(answer ?? {}, azdo.organizationUrl, pool);
  await azdo.request(
    "PUT",
    `${agentsPath}/${registered.id}/usercapabilities`,
    {},
    {
      ...context,
      body: registration.userCapabilities,
    },
  );
  return registered;
}

async function findExisting(
  azdo: AzureDevOpsClient,
  agentsPath: string,
  name: string,
  poolName: string,
): Promise<TaskAgentAnswer | undefined> {
  const { body: answer } = (await azdo.request(
    "GET",
    agentsPath,
    { agentName: name, includeCapabilities: "false" },
    {
      pool: poolName,
    },
  )) as { body: { value?: TaskAgentAnswer[] } | undefined };
  return (answer?.value ?? []).find((agent) => String(agent.name).toLowerCase() === name.toLowerCase());
}

function registeredAgentFrom(
  answer: TaskAgentAnswer,
  organizationUrl: string,
  pool: AgentPool,
): RegisteredAgent {
  const clientId = typeof answer.authorization?.clientId === "string" ? answer.authorization.clientId : "";
  const authorizationUrl =
    typeof answer.authorization?.authorizationUrl === "string" ? answer.authorization.authorizationUrl : "";
  if (typeof answer.id !== "number" || !clientId || clientId === EMPTY_GUID || !authorizationUrl) {
    // config.sh would fall back to storing the PAT in .credentials here (§1.4): we refuse instead.
    throw new AzureDevOpsError(
      `Azure DevOps registered agent ${String(answer.name ?? "")} in pool "${pool.name}" without an OAuth client ` +
        "(no id, authorization.clientId or authorizationUrl in the answer), so it could only run with the PAT. " +
        'Use agentRegistration "inVm" with this server.',
      undefined,
      false,
    );
  }
  return {
    id: answer.id,
    name: String(answer.name),
    poolId: pool.id,
    poolName: pool.name,
    serverUrl: serverUrlOf(answer, organizationUrl),
    clientId: clientId.toLowerCase(),
    authorizationUrl: new URL(authorizationUrl).href,
    oauthEndpointUrl: new URL(authorizationUrl).href,
  };
}

/**
 * §2.5: the server's `properties.ServerUrl`, its path grafted onto the configured scheme, host and
 * port when those differ; the configured URL when the server names none.
 */
function serverUrlOf(answer: TaskAgentAnswer, organizationUrl: string): string {
  const configured = new URL(`${organizationUrl.replace(/\/+$/, "")}/`);
  const named = answer.properties?.ServerUrl?.$value;
  if (typeof named !== "string" || named === "") return configured.href;
  const fromServer = new URL(named);
  if (fromServer.origin === configured.origin) return fromServer.href;
  return new URL(fromServer.pathname, configured.origin).href;
}
