import {
  AnkaClient,
  rootTokenAuthentication,
  uakAuthentication,
  type AuthenticationSetting,
  type RetryEvent,
  type TlsOptions,
} from "../anka/index.ts";
import { AzureDevOpsClient } from "../azdo/index.ts";
import type { ProxyResolver, ProxySettings } from "../net/proxy.ts";
import type { RetryPolicy } from "../net/retry.ts";
import type { Logger, SecretRegistry } from "./ports.ts";
import type { AgentSettings } from "./settings.ts";

/**
 * One connection, however it was described (a service connection, CLI flags and a config file, the
 * pool service's YAML): where the controller is, how to authenticate and trust it, and the agent
 * settings. Each adapter fills this in from its own format; `openConnection` does the rest.
 */
export type ControllerAuth =
  | { kind: "none" }
  | { kind: "rootToken"; token: string }
  /** mTLS: PEM certificate and its unencrypted key (reference anka-controller-api.md §7.3). */
  | { kind: "certificate"; certificate: string; privateKey: string }
  /** User API Key with the TAP handshake (§7.4): the key as PEM or as its bare base64 body. */
  | { kind: "uak"; id: string; privateKey: string };

export interface ConnectionConfig {
  controllerUrl: string;
  auth: ControllerAuth;
  /** PEM of the CA that signed the controller's certificate. */
  caCertificate?: string;
  skipTlsVerification?: boolean;
  /** Which proxy each server is reached through (the agent's proxy settings, or HTTPS_PROXY/NO_PROXY). */
  proxyFor?: ProxyResolver;
  /** Deadline of one HTTP exchange and the retry policy, for both clients; the defaults suit production. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  agent: AgentSettings;
}

export interface OpenedConnection {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  agent: AgentSettings;
  /** Short name of the controller authentication in use, for logs and `doctor`. */
  authMethod: string;
  close(): void;
}

/** Masks every secret and its derived forms, then opens both clients. */
export function openConnection(
  config: ConnectionConfig,
  log: Logger,
  registerSecret: SecretRegistry,
): OpenedConnection {
  registerSecret(config.agent.pat);
  registerSecret(Buffer.from(`:${config.agent.pat}`).toString("base64"));
  const auth = controllerAuthenticator(config.auth, registerSecret);
  const tls: TlsOptions = {};
  if (config.auth.kind === "certificate") {
    tls.cert = config.auth.certificate;
    tls.key = config.auth.privateKey;
  }
  if (config.caCertificate) tls.ca = config.caCertificate;
  if (config.skipTlsVerification) {
    tls.rejectUnauthorized = false;
    log.warn(
      "TLS verification of the Anka controller is OFF (skipTlsVerification): anyone on the network path can read the credentials and the startup script. Give the controller's CA certificate instead.",
    );
  }
  const proxyFor = (url: string): ProxySettings | undefined => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return undefined; // the client reports the malformed URL itself
    }
    const proxy = config.proxyFor?.(target);
    if (proxy?.password) registerSecret(proxy.password);
    if (proxy) log.debug(`Reaching ${target.origin} through the proxy ${new URL(proxy.url).origin}`);
    return proxy;
  };
  const anka = new AnkaClient({
    url: config.controllerUrl,
    proxy: proxyFor(config.controllerUrl),
    auth,
    tls,
    timeoutMs: config.timeoutMs,
    retry: config.retry,
    onRetry: (event: RetryEvent) =>
      log.debug(
        `Retrying ${event.request.method} ${event.request.url} in ${event.delayMs} ms: ${event.error.message}`,
      ),
  });
  const azdo = new AzureDevOpsClient({
    organizationUrl: config.agent.azureDevOpsUrl,
    pat: config.agent.pat,
    proxy: proxyFor(config.agent.azureDevOpsUrl),
    timeoutMs: config.timeoutMs,
    retry: config.retry,
    onWarning: (message) => log.warn(message),
  });
  return {
    anka,
    azdo,
    agent: { ...config.agent, azureDevOpsUrl: azdo.organizationUrl },
    authMethod: anka.transport.authMethod,
    close: () => {
      anka.close();
      azdo.close();
    },
  };
}

function controllerAuthenticator(
  auth: ControllerAuth,
  registerSecret: SecretRegistry,
): AuthenticationSetting | undefined {
  switch (auth.kind) {
    case "none":
    case "certificate":
      return undefined;
    case "rootToken":
      registerSecret(auth.token);
      registerSecret(Buffer.from(`root:${auth.token}`).toString("base64"));
      return rootTokenAuthentication(auth.token);
    case "uak":
      for (const form of keySecretForms(auth.privateKey)) registerSecret(form);
      return uakAuthentication({ id: auth.id, privateKey: auth.privateKey, onSessionToken: registerSecret });
  }
}

/**
 * A private key as it may show up in a log: the whole text, its base64 body on one line, and each
 * line of the body (a masker that works line by line sees only those).
 */
export function keySecretForms(key: string): string[] {
  const body = key
    .replace(/-----(BEGIN|END)[^-]*-----/g, "")
    .replace(/^[A-Za-z-]+:.*$/gm, "")
    .split(/\s+|\\n/)
    .filter((line) => line.length >= 16);
  return [key.trim(), body.join(""), ...body].filter(
    (form, index, all) => form && all.indexOf(form) === index,
  );
}
