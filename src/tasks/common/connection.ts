import * as tl from "azure-pipelines-task-lib/task.js";
import { openConnection, type ControllerAuth, type Logger, type OpenedConnection } from "../../core/index.ts";

/**
 * Reads the "Anka Build Cloud Controller" service connection (contract §2) and opens it. Every
 * secret, and every form derived from it, is masked the moment it is read.
 */
export function openServiceConnection(endpointId: string, log: Logger): OpenedConnection {
  const url = tl.getEndpointUrl(endpointId, false);
  if (!url) {
    throw new Error(
      `The service connection ${endpointId} has no server URL. Edit it and set the controller URL, e.g. https://anka.example.com:8090`,
    );
  }
  // getEndpointAuthorization, not ...Parameter: the latter debug-logs each value in clear.
  const authorization = tl.getEndpointAuthorization(endpointId, true);
  const scheme = authorization?.scheme ?? "None";
  const parameters = new Map(
    Object.entries(authorization?.parameters ?? {}).map(([key, value]) => [key.toLowerCase(), value]),
  );
  const secret = (key: string): string => {
    const value = parameters.get(key.toLowerCase())?.trim();
    if (!value) throw new Error(`The service connection has no ${key}. Edit the connection and fill it in.`);
    tl.setSecret(value);
    return value;
  };
  const data = (key: string): string | undefined =>
    tl.getEndpointDataParameter(endpointId, key, true)?.trim() || undefined;

  const pat = secret("azureDevOpsToken");
  const pool = data("agentPool");
  if (!pool)
    throw new Error(
      "The service connection has no agent pool. Edit the connection and set the self-hosted agent pool the VMs' agents join.",
    );
  const azureDevOpsUrl =
    data("azureDevOpsUrl") ||
    tl.getVariable("System.CollectionUri") ||
    tl.getVariable("System.TeamFoundationCollectionUri");
  if (!azureDevOpsUrl)
    throw new Error(
      "Cannot tell which Azure DevOps organization to register agents with: set the connection's Azure DevOps URL.",
    );

  return openConnection(
    {
      controllerUrl: url,
      auth: controllerAuth(scheme, secret),
      caCertificate: data("caCertificate"),
      skipTlsVerification: (data("skipTlsVerification") ?? "").toLowerCase() === "true",
      agent: {
        pool,
        azureDevOpsUrl,
        pat,
        agentUser: data("agentUser"),
        agentPath: data("agentPath"),
        agentLogPath: data("agentLogPath"),
        agentProxyUrl: data("agentProxyUrl"),
        agentDownloadUrl: data("agentDownloadUrl"),
        startupScript: data("startupScript"),
      },
    },
    log,
    (value) => tl.setSecret(value),
  );
}

function controllerAuth(scheme: string, secret: (key: string) => string): ControllerAuth {
  switch (scheme) {
    case "None":
      return { kind: "none" };
    case "UsernamePassword":
      return { kind: "rootToken", token: secret("password") };
    default:
      throw new Error(
        `The service connection uses authentication scheme "${scheme}", which this task version does not support. Use "None" or the root token (UsernamePassword).`,
      );
  }
}
