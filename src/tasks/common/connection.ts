import * as tl from "azure-pipelines-task-lib/task.js";
import { bypassedByNoProxy, type ProxySettings } from "../../net/proxy.ts";
import {
  AGENT_REGISTRATION_MODES,
  openConnection,
  type AgentRegistrationMode,
  type ControllerAuth,
  type Logger,
  type OpenedConnection,
} from "../../core/index.ts";

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
    maskSecret(value);
    return value;
  };
  const optionalSecret = (key: string): string | undefined =>
    parameters.get(key.toLowerCase())?.trim() ? secret(key) : undefined;
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

  const connection = openConnection(
    {
      controllerUrl: url,
      auth: controllerAuth(scheme, secret, optionalSecret),
      caCertificate: data("caCertificate"),
      skipTlsVerification: (data("skipTlsVerification") ?? "").toLowerCase() === "true",
      proxyFor: agentProxy,
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
        registration: registrationMode(data("agentRegistration")),
      },
    },
    log,
    maskSecret,
  );
  return { ...connection, close: () => (reportThrottling(connection, log), connection.close()) };
}

/** One log line when Azure DevOps rate-limited the task, so that a slow step explains itself. */
function reportThrottling(connection: OpenedConnection, log: Logger): void {
  const { throttling, lastRateLimit: last } = connection.azdo;
  if (throttling.answers === 0) return;
  const remaining =
    last?.remaining === undefined ? "" : `; X-RateLimit-Remaining ${last.remaining} of ${last.limit ?? "?"}`;
  log.info(
    `Azure DevOps rate-limited this task: ${throttling.answers} answer(s) carried rate-limit headers, ` +
      `${throttling.blocked} refused with 429 and retried after Retry-After, ${throttling.delayedSeconds.toFixed(3)} s delayed by the service${remaining}. ` +
      "Give the pipelines' PAT to fewer tools, or see Organization settings > Usage.",
  );
}

/** Data field agentRegistration (contract §2); empty means inVm. */
function registrationMode(value: string | undefined): AgentRegistrationMode {
  if (!value) return "inVm";
  const mode = AGENT_REGISTRATION_MODES.find((known) => known.toLowerCase() === value.toLowerCase());
  if (!mode)
    throw new Error(
      `The service connection's agent registration is "${value}". Edit the connection and choose inVm or preregistered.`,
    );
  return mode;
}

/**
 * The agent's own proxy settings (Agent.ProxyUrl and its bypass list, through task-lib), and
 * NO_PROXY on top, for the agent machine's local exceptions.
 */
function agentProxy(target: URL): ProxySettings | undefined {
  if (bypassedByNoProxy(target, process.env.NO_PROXY ?? process.env.no_proxy)) return undefined;
  const proxy = tl.getHttpProxyConfiguration(target.toString());
  if (!proxy?.proxyUrl) return undefined;
  return {
    url: proxy.proxyUrl,
    username: proxy.proxyUsername || undefined,
    password: proxy.proxyPassword || undefined,
  };
}

/**
 * task-lib refuses multi-line secrets (PEM keys), and the agent masks line by line anyway: mask
 * each meaningful line. PEM armour lines are not secret and would only blank out log text.
 */
export function maskSecret(value: string): void {
  for (const line of value.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.length >= 8 && !trimmed.startsWith("-----")) tl.setSecret(trimmed);
  }
}

/**
 * Scheme names at run time (contract §2): None, UsernamePassword (root token), Certificate
 * (`certificate` = client certificate PEM, `privateKey` = its unencrypted key, or both in
 * `certificate`), Token (UAK: `uakId` and `apitoken` = the UAK private key).
 */
function controllerAuth(
  scheme: string,
  secret: (key: string) => string,
  optionalSecret: (key: string) => string | undefined,
): ControllerAuth {
  switch (scheme) {
    case "None":
      return { kind: "none" };
    case "UsernamePassword":
      return { kind: "rootToken", token: secret("password") };
    case "Certificate": {
      const certificate = secret("certificate");
      return { kind: "certificate", ...splitCertificateAndKey(certificate, optionalSecret("privateKey")) };
    }
    case "Token":
      return { kind: "uak", id: secret("uakId"), privateKey: secret("apitoken") };
    default:
      throw new Error(
        `The service connection uses authentication scheme "${scheme}", which this task does not know. Use No controller authentication, Root token, Client certificate or User API Key.`,
      );
  }
}

/** The certificate field may hold the certificate alone, or the certificate and its key pasted together. */
export function splitCertificateAndKey(
  certificateField: string,
  keyField: string | undefined,
): { certificate: string; privateKey: string } {
  const blocks = certificateField.match(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g) ?? [];
  const certificate = blocks.filter((block) => block.includes("CERTIFICATE")).join("\n");
  const privateKey = keyField || blocks.find((block) => block.includes("PRIVATE KEY"));
  if (!certificate)
    throw new Error(
      "The connection's client certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----). Paste the certificate in PEM form.",
    );
  if (!privateKey)
    throw new Error(
      "The connection has a client certificate but no private key. Paste the unencrypted PEM key in the private key field, or after the certificate.",
    );
  return { certificate, privateKey };
}
