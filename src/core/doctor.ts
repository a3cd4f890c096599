import {
  ControllerAuthenticationError,
  ControllerNetworkError,
  ControllerResponseError,
  ControllerTimeoutError,
  ControllerTlsError,
  UakHandshakeError,
  type ControllerStatus,
  type TemplateSummary,
} from "../anka/index.ts";
import {
  agentPlatformFor,
  AzureDevOpsError,
  AzureDevOpsPermissionError,
  PoolNotFoundError,
  type Agent,
  type AgentPool,
} from "../azdo/index.ts";
import { openConnection, type ConnectionConfig, type OpenedConnection } from "./connection.ts";
import type { Logger, SecretRegistry } from "./ports.ts";
import { resolveTemplate } from "./resolve.ts";

/**
 * `doctor`: checks one connection end to end, in the order a start uses it, and says for each step
 * what is wrong and how to fix it. Read-only, except for one DELETE of an agent id that does not
 * exist (see the manage check). A step whose prerequisite failed is skipped, not failed again.
 */
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export type CheckId =
  | "connection"
  | "controller.reachable"
  | "controller.tls"
  | "controller.auth"
  | "controller.templates"
  | "azdo.reachable"
  | "azdo.pat"
  | "azdo.pool"
  | "azdo.read"
  | "azdo.manage"
  | "azdo.package";

export interface CheckResult {
  id: CheckId;
  title: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do, for warn and fail. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  controllerUrl: string;
  azureDevOpsUrl: string;
  pool: string;
  /** Controller authentication in use ("none", "root token", ...). */
  authMethod?: string;
  /** As GET /api/v1/status shows it, e.g. "1.50.1-4e3c2d9a"; absent when the status could not be read. */
  controllerVersion?: string;
  checks: CheckResult[];
}

export interface DoctorOptions {
  /** Also check that this template (and tag) resolves, and look for the agent package of its platform only. */
  template?: string;
  tag?: string;
  /** The agent id the manage check deletes; it must not exist. Tests only. */
  probeAgentId?: number;
}

/** An id Azure DevOps never hands out in practice (ids count up from 1 per organization). */
const PROBE_AGENT_ID = 2_147_483_647;

export async function diagnose(
  config: ConnectionConfig,
  log: Logger,
  registerSecret: SecretRegistry,
  options: DoctorOptions = {},
): Promise<DoctorReport> {
  const checks: CheckResult[] = [];
  const report: DoctorReport = {
    ok: false,
    controllerUrl: config.controllerUrl,
    azureDevOpsUrl: config.agent.azureDevOpsUrl,
    pool: config.agent.pool,
    checks,
  };
  const add: Add = (check) => {
    const title =
      check.id === "controller.auth" ? `${TITLES[check.id]} (${report.authMethod ?? "?"})` : TITLES[check.id];
    checks.push({ id: check.id, title, status: check.status, detail: check.detail, fix: check.fix });
    log.debug(`doctor: ${check.id} ${check.status}: ${check.detail}`);
  };

  let connection: OpenedConnection;
  try {
    connection = openConnection(config, log, registerSecret);
  } catch (error) {
    add({
      id: "connection",
      status: "fail",
      detail: (error as Error).message,
      fix: "Correct the setting named above (flag, environment variable or config file).",
    });
    return report;
  }
  report.authMethod = connection.authMethod;
  try {
    const [controller, azdo] = await Promise.all([
      checkController(connection, config, options, add, (version) => (report.controllerVersion = version)),
      checkAzureDevOps(connection, add, options.probeAgentId ?? PROBE_AGENT_ID),
    ]);
    await checkAgentPackage(connection, controller.templates, azdo, options, add);
  } finally {
    connection.close();
  }
  // The two sides ran at once: report them in a stable order.
  const order: CheckId[] = [
    "connection",
    "controller.reachable",
    "controller.tls",
    "controller.auth",
    "controller.templates",
    "azdo.reachable",
    "azdo.pat",
    "azdo.pool",
    "azdo.read",
    "azdo.manage",
    "azdo.package",
  ];
  checks.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  report.ok = checks.every((check) => check.status !== "fail");
  return report;
}

type Add = (check: Omit<CheckResult, "title">) => void;

const TITLES: Record<CheckId, string> = {
  connection: "Connection settings",
  "controller.reachable": "Anka controller reachable",
  "controller.tls": "TLS",
  "controller.auth": "Controller authentication",
  "controller.templates": "Templates in the registry",
  "azdo.reachable": "Azure DevOps reachable",
  "azdo.pat": "PAT accepted",
  "azdo.pool": "Agent pool exists",
  "azdo.read": "PAT can read the pool",
  "azdo.manage": "PAT can manage the pool",
  "azdo.package": "Agent package for the templates' platforms",
};

interface ControllerFindings {
  /** Templates whose platforms need an agent package; undefined when they could not be listed. */
  templates?: TemplateSummary[];
}

async function checkController(
  connection: OpenedConnection,
  config: ConnectionConfig,
  options: DoctorOptions,
  add: Add,
  noteVersion: (version: string | undefined) => void,
): Promise<ControllerFindings> {
  const url = connection.anka.url;
  const https = url.startsWith("https:");
  const method = connection.authMethod;
  const skipRest = (
    reason: string,
    ids: ("controller.tls" | "controller.auth" | "controller.templates")[],
  ) => {
    for (const id of ids)
      add({
        id,
        status: "skip",
        detail: reason,
      });
  };
  const tlsPassed = () =>
    add(
      !https
        ? {
            id: "controller.tls",
            status: method === "none" ? "skip" : "warn",
            detail: `${url} is plain HTTP: no TLS`,
            ...(method === "none"
              ? {}
              : {
                  fix: `The ${method} crosses the network in clear: use the controller's https:// address.`,
                }),
          }
        : config.skipTlsVerification
          ? {
              id: "controller.tls",
              status: "warn",
              detail:
                "TLS handshake made, but the certificate was NOT verified (skip TLS verification is on)",
              fix: "Give the controller's CA certificate (--ca-cert / ANKA_CA_CERT_FILE) and turn skip TLS verification off.",
            }
          : {
              id: "controller.tls",
              status: "pass",
              detail: `certificate verified${config.caCertificate ? " against the given CA certificate" : " against the system CAs"}`,
            },
    );

  let status: ControllerStatus;
  try {
    status = await connection.anka.status();
  } catch (error) {
    if (error instanceof ControllerTlsError) {
      add({
        id: "controller.reachable",
        status: "pass",
        detail: `${url} accepts connections`,
      });
      add({ id: "controller.tls", status: "fail", detail: error.message, fix: tlsFix(error) });
      skipRest("needs a TLS connection", ["controller.auth", "controller.templates"]);
      return {};
    }
    if (error instanceof ControllerAuthenticationError || error instanceof UakHandshakeError) {
      add({
        id: "controller.reachable",
        status: "pass",
        detail: `${url} answers`,
      });
      tlsPassed();
      add({
        id: "controller.auth",
        status: "fail",
        detail: error.message,
        fix:
          method === "none"
            ? "Give credentials the controller accepts: its root token (ANKA_ROOT_TOKEN), a client certificate and key, or a UAK id and private key."
            : `Check the ${method}: the controller refused it.`,
      });
      skipRest("needs authentication", ["controller.templates"]);
      return {};
    }
    add({
      id: "controller.reachable",
      status: "fail",
      detail: (error as Error).message,
      fix: reachFix(error),
    });
    skipRest("needs the controller", ["controller.tls", "controller.auth", "controller.templates"]);
    return {};
  }
  noteVersion(status.version);
  add({
    id: "controller.reachable",
    status: "pass",
    detail: `${url} answers: status ${status.status}${status.version ? `, version ${status.version}` : ""}${
      status.registryStatus ? `, registry ${status.registryStatus}` : ""
    }`,
  });
  tlsPassed();
  add({
    id: "controller.auth",
    status: "pass",
    detail:
      method === "none"
        ? "the controller does not require authentication"
        : `the controller accepts the ${method}`,
  });

  try {
    const templates = await connection.anka.listTemplates();
    if (templates.length === 0) {
      add({
        id: "controller.templates",
        status: "fail",
        detail: `the registry of ${url} has no templates`,
        fix: "Push a template to the registry (anka registry push) or connect the controller to its registry.",
      });
      return { templates };
    }
    if (options.template) {
      const resolved = await resolveTemplate(connection.anka, options.template, options.tag);
      add({
        id: "controller.templates",
        status: "pass",
        detail: `${templates.length} template(s); "${resolved.template.name}" (${resolved.template.id}) tag ${resolved.effectiveTag ?? "latest"} is there`,
      });
      return { templates: [{ ...resolved.template }] };
    }
    const names = templates.map((t) => t.name).sort();
    add({
      id: "controller.templates",
      status: "pass",
      detail: `${templates.length} template(s): ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""}`,
    });
    return { templates };
  } catch (error) {
    add({
      id: "controller.templates",
      status: "fail",
      detail: (error as Error).message,
      fix: options.template
        ? "Give a template name or UUID (and tag) that exists: `anka-azdo templates` lists them."
        : "See the message above.",
    });
    return {};
  }
}

function tlsFix(error: ControllerTlsError): string {
  const code = error.code ?? "";
  if (/SELF_SIGNED|UNABLE_TO|CERT_UNTRUSTED|VERIFY/.test(code))
    return "Give the CA certificate that signed the controller's certificate (--ca-cert / ANKA_CA_CERT_FILE / controller.caCertificate).";
  if (/ALTNAME/.test(code)) return "Use the host name the certificate names in the controller URL.";
  if (/WRONG_VERSION|EPROTO/.test(code) || /wrong version number/i.test(error.message))
    return "The port does not speak TLS: use http:// or the controller's HTTPS port.";
  return "See the message above; --debug shows more.";
}

function reachFix(error: unknown): string {
  if (error instanceof ControllerResponseError)
    return "The URL reaches something that is not the Anka controller API: give the controller's base URL (e.g. https://anka.example.com:8090), not a proxy or a UI page.";
  if (error instanceof ControllerTimeoutError)
    return "The controller is slow or a firewall drops the traffic: check the controller's health and the network path.";
  if (error instanceof ControllerNetworkError) {
    if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN")
      return "Check the host name in the controller URL (and DNS on this machine).";
    return "Check the host and port in the controller URL, that the controller runs, and that this machine may reach it (VPN, firewall, proxy).";
  }
  return "See the message above; --debug shows more.";
}

interface AzureDevOpsFindings {
  pool?: AgentPool;
}

async function checkAzureDevOps(
  connection: OpenedConnection,
  add: Add,
  probeAgentId: number,
): Promise<AzureDevOpsFindings> {
  const { azdo, agent } = connection;
  const org = azdo.organizationUrl;
  const skip = (reason: string, ids: CheckId[]) => {
    for (const id of ids) add({ id, status: "skip", detail: reason });
  };

  const answered = () => add({ id: "azdo.reachable", status: "pass", detail: `${org} answers` });
  const patAccepted = () => add({ id: "azdo.pat", status: "pass", detail: "the PAT is accepted" });
  const readFailed = (error: unknown) =>
    add({
      id: "azdo.read",
      status: "fail",
      detail: (error as Error).message,
      fix: "Give the PAT the scope Agent Pools (Read & manage).",
    });

  let pool: AgentPool;
  try {
    pool = await azdo.findPool(agent.pool);
  } catch (error) {
    if (error instanceof PoolNotFoundError) {
      answered();
      patAccepted();
      add({
        id: "azdo.pool",
        status: "fail",
        detail: error.message,
        fix: `Create a self-hosted agent pool named "${agent.pool}" (Organization settings > Agent pools), or set the pool (--pool / AZP_POOL / azureDevOps.pool) to one that exists; if it exists but the PAT's owner cannot see it, give that user a role on it (the pool's Security tab).`,
      });
      skip("needs the pool", ["azdo.read", "azdo.manage"]);
      return {};
    }
    if (error instanceof AzureDevOpsPermissionError && error.httpStatus !== 403) {
      answered();
      add({
        id: "azdo.pat",
        status: "fail",
        detail: error.message,
        fix: "Create a PAT with scope Agent Pools (Read & manage) in this organization and set it (AZP_TOKEN or azureDevOps.token).",
      });
      skip("needs an accepted PAT", ["azdo.pool", "azdo.read", "azdo.manage"]);
      return {};
    }
    if (error instanceof AzureDevOpsError && error.httpStatus === 403) {
      answered();
      patAccepted();
      add({
        id: "azdo.pool",
        status: "skip",
        detail: "the PAT may not list pools",
      });
      readFailed(error);
      skip("needs read access", ["azdo.manage"]);
      return {};
    }
    const unreachable = error instanceof AzureDevOpsError && error.httpStatus === undefined;
    add({
      id: "azdo.reachable",
      status: "fail",
      detail: (error as Error).message,
      fix: unreachable
        ? "Check the Azure DevOps URL (--azure-devops-url / AZP_URL), and that this machine may reach it (proxy, firewall)."
        : "Give the organization URL, e.g. https://dev.azure.com/contoso (or https://server/tfs/collection for Azure DevOps Server).",
    });
    skip("needs Azure DevOps", ["azdo.pat", "azdo.pool", "azdo.read", "azdo.manage"]);
    return {};
  }
  answered();
  patAccepted();
  add({
    id: "azdo.pool",
    status: pool.isHosted ? "fail" : "pass",
    detail: `pool "${pool.name}" (id ${pool.id})${pool.isHosted ? " is a Microsoft-hosted pool" : ""}`,
    ...(pool.isHosted ? { fix: "Use a self-hosted agent pool: hosted pools take no agents." } : {}),
  });

  let agents: Agent[];
  try {
    agents = await azdo.listAgents(pool);
  } catch (error) {
    readFailed(error);
    skip("needs read access", ["azdo.manage"]);
    return { pool };
  }
  const online = agents.filter((a) => a.status === "online").length;
  add({
    id: "azdo.read",
    status: "pass",
    detail: `${agents.length} agent(s) in the pool, ${online} online`,
  });
  add(await probeManage(connection, pool, agents, probeAgentId));
  return { pool };
}

/**
 * Manage rights cannot be read from the REST API, and registering a test agent would be a real
 * write. So: DELETE an agent id that does not exist. Azure DevOps checks the PAT's scope
 * (vso.agentpools_manage) before any handler runs, so a PAT without it is refused whatever the id.
 * Whether the service checks the owner's role on the pool before looking the agent up is not
 * documented: a 404 proves the scope, and the role only as far as the service reveals it. The
 * emulator checks the role first. 403 (or 401 after the reads worked) is a definite no.
 */
async function probeManage(
  connection: OpenedConnection,
  pool: AgentPool,
  agents: Agent[],
  probeAgentId: number,
): Promise<Omit<CheckResult, "title">> {
  const taken = new Set(agents.map((a) => a.id));
  let id = probeAgentId;
  while (taken.has(id)) id -= 1;
  try {
    const deleted = await connection.azdo.deleteAgent(pool, id);
    if (deleted)
      return {
        id: "azdo.manage",
        status: "warn",
        detail: `an agent with id ${id} appeared in pool "${pool.name}" during the check and was deleted`,
        fix: "Look at the pool: an agent registered while doctor ran.",
      };
    return {
      id: "azdo.manage",
      status: "pass",
      detail:
        `Azure DevOps let the PAT try to delete an agent (a DELETE of the non-existent agent id ${id} answered 404, not 403): ` +
        "the PAT has the Read & manage scope, which registering agents needs (in the VM or, with agentRegistration preregistered, here). " +
        "The owner's Administrator role on the pool is proven only when an agent registers.",
    };
  } catch (error) {
    if (error instanceof AzureDevOpsError && (error.httpStatus === 403 || error.httpStatus === 401)) {
      return {
        id: "azdo.manage",
        status: "fail",
        detail:
          error.httpStatus === 401
            ? `Azure DevOps refused a manage request with the PAT that reads the pool (HTTP 401): the PAT lacks the Agent Pools (Read & manage) scope`
            : error.message,
        fix: `Give the PAT the scope Agent Pools (Read & manage), and its owner the Administrator role on pool "${pool.name}" (pool > Security). Without it ${
          connection.agent.registration === "preregistered"
            ? "agents cannot be pre-registered (agentRegistration preregistered)"
            : "the startup script's config.sh fails in the VM"
        }.`,
      };
    }
    return {
      id: "azdo.manage",
      status: "warn",
      detail: `could not tell: ${(error as Error).message}`,
      fix: "Try again; if it persists, check the PAT's scope (Agent Pools: Read & manage) by hand.",
    };
  }
}

async function checkAgentPackage(
  connection: OpenedConnection,
  templates: TemplateSummary[] | undefined,
  azdoFindings: AzureDevOpsFindings,
  options: DoctorOptions,
  add: Add,
): Promise<void> {
  const { agent, azdo } = connection;
  if (agent.agentDownloadUrl) {
    add({
      id: "azdo.package",
      status: "pass",
      detail: `the agent download URL is set (${agent.agentDownloadUrl}); doctor does not download it, the VMs do`,
    });
    return;
  }
  if (!templates || templates.length === 0) {
    add({ id: "azdo.package", status: "skip", detail: "needs the templates' architectures" });
    return;
  }
  if (!azdoFindings.pool) {
    add({ id: "azdo.package", status: "skip", detail: "needs Azure DevOps with an accepted PAT" });
    return;
  }
  const platforms = [...new Set(templates.map((t) => agentPlatformFor(t.arch)))].sort();
  const found: string[] = [];
  for (const platform of platforms) {
    try {
      const pkg = await azdo.latestAgentPackage(platform);
      found.push(`${platform} ${pkg.version}`);
    } catch (error) {
      add({
        id: "azdo.package",
        status: "fail",
        detail: (error as Error).message,
        fix: `Set the agent download URL (--agent-download-url / AZP_AGENT_DOWNLOAD_URL) to an agent package for ${platform}.`,
      });
      return;
    }
  }
  add({
    id: "azdo.package",
    status: "pass",
    detail: `${found.join(", ")}${options.template ? "" : " (for every template's architecture)"}`,
  });
}
