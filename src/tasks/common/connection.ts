import * as tl from "azure-pipelines-task-lib/task.js";
import {
  AnkaClient,
  rootTokenAuthentication,
  type Authenticator,
  type TlsOptions,
} from "../../anka/index.ts";
import { AzureDevOpsClient } from "../../azdo/index.ts";
import type { AgentSettings, Logger } from "../../core/index.ts";

/**
 * Reads the "Anka Build Cloud Controller" service connection (contract §2) into typed settings and
 * opens both clients. Every secret, and every form derived from it, is masked the moment it is read.
 */
export interface OpenedConnection {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  agent: AgentSettings;
  close(): void;
}

export function openConnection(endpointId: string, log: Logger): OpenedConnection {
  const url = tl.getEndpointUrl(endpointId, false);
  if (!url)
    throw new Error(
      `The service connection ${endpointId} has no server URL. Edit it and set the controller URL, e.g. https://anka.example.com:8090`,
    );
  // getEndpointAuthorization, not ...Parameter: the latter debug-logs each value in clear.
  const authorization = tl.getEndpointAuthorization(endpointId, true);
  const scheme = authorization?.scheme ?? "None";
  const parameters = new Map(Object.entries(authorization?.parameters ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
  const secret = (key: string, required: boolean): string | undefined => {
    const value = parameters.get(key.toLowerCase())?.trim() || undefined;
    if (value) tl.setSecret(value);
    if (required && !value) throw new Error(`The service connection has no ${key}. Edit the connection and fill it in.`);
    return value;
  };
  const data = (key: string): string | undefined =>
    tl.getEndpointDataParameter(endpointId, key, true)?.trim() || undefined;

  const pat = secret("azureDevOpsToken", true) as string;
  tl.setSecret(Buffer.from(`:${pat}`).toString("base64"));

  const auth = controllerAuth(scheme, secret);
  const tls = tlsOptions(data, log);
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

  const anka = new AnkaClient({
    url,
    auth,
    tls,
    onRetry: (event) =>
      log.debug(
        `Retrying ${event.request.method} ${event.request.url} in ${event.delayMs} ms: ${event.error.message}`,
      ),
  });
  const azdo = new AzureDevOpsClient({ organizationUrl: azureDevOpsUrl, pat });
  const agent: AgentSettings = {
    pool,
    azureDevOpsUrl: azdo.organizationUrl,
    pat,
    agentUser: data("agentUser"),
    agentPath: data("agentPath"),
    agentLogPath: data("agentLogPath"),
    agentProxyUrl: data("agentProxyUrl"),
    agentDownloadUrl: data("agentDownloadUrl"),
    startupScript: data("startupScript"),
  };
  return {
    anka,
    azdo,
    agent,
    close: () => {
      anka.close();
      azdo.close();
    },
  };
}

function controllerAuth(
  scheme: string,
  secret: (key: string, required: boolean) => string | undefined,
): Authenticator | undefined {
  switch (scheme) {
    case "None":
      return undefined;
    case "UsernamePassword": {
      const token = secret("password", true) as string;
      const authenticator = rootTokenAuthentication(token);
      tl.setSecret(Buffer.from(`root:${token}`).toString("base64"));
      return authenticator;
    }
    default:
      throw new Error(
        `The service connection uses authentication scheme "${scheme}", which this task version does not support. Use "None" or the root token (UsernamePassword).`,
      );
  }
}

function tlsOptions(data: (key: string) => string | undefined, log: Logger): TlsOptions {
  const tls: TlsOptions = {};
  const ca = data("caCertificate");
  if (ca) tls.ca = ca;
  if ((data("skipTlsVerification") ?? "").toLowerCase() === "true") {
    tls.rejectUnauthorized = false;
    log.warn(
      "TLS verification of the Anka controller is OFF (skipTlsVerification): anyone on the network path can read the root token and the startup script. Give the controller's CA certificate instead.",
    );
  }
  return tls;
}
