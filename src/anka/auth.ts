import type { Clock } from "../clock.ts";
import type { RawResponse } from "../net/http.ts";
import type { RequestDescription } from "./errors.ts";

/**
 * How requests to the controller are authenticated. The transport asks for headers before each
 * request, and tells the authenticator once when the controller says "Authentication Required",
 * so a session-based method can renew its session and the request is tried one more time.
 */
export interface Authenticator {
  /** Short name for logs and `doctor`, e.g. "none", "root token". */
  readonly method: string;
  headers(): Promise<Record<string, string>>;
  /**
   * Called after a 401 / "Authentication Required", with the headers that request carried.
   * Return true when a retry may now succeed.
   */
  renew(rejected?: Record<string, string>): Promise<boolean>;
  /** What to tell the user when the controller still refuses after `renew`: the cause and the fix. */
  readonly refusalAdvice?: string;
}

/**
 * What an authenticator that talks to the controller itself (UAK's handshake, reference §7.4) is
 * given by the transport: a way to POST through the client's own connection pool, so the handshake
 * shares the client's TLS settings (CA, client certificate, skip-verify), timeout and errors.
 */
export interface AuthenticatorContext {
  baseUrl: URL;
  clock: Clock;
  /**
   * POSTs a JSON body to a controller path without authentication and returns the raw answer,
   * whatever its HTTP status; no answer at all arrives as a ControllerNetworkError or
   * ControllerTimeoutError.
   */
  post(path: string, body: unknown): Promise<{ request: RequestDescription; response: RawResponse }>;
}

/** Builds an authenticator once the transport exists; see {@link AuthenticatorContext}. */
export type AuthenticatorFactory = (context: AuthenticatorContext) => Authenticator;

/** The `auth` option of the client: a ready authenticator, or a factory for one that needs the wire. */
export type AuthenticationSetting = Authenticator | AuthenticatorFactory;

const METHODS =
  "root token (ANKA_ROOT_TOKEN), client certificate (mTLS with a certificate signed by the controller's ANKA_CA_CERT), or UAK (User API Key id and private key)";

export const noAuthentication: Authenticator = {
  method: "none",
  headers: async () => ({}),
  renew: async () => false,
  refusalAdvice: `The controller requires authentication and this connection has none. Configure one of the controller's methods: ${METHODS}.`,
};

/**
 * Authentication by the TLS client certificate alone (reference §7.3): nothing goes in the headers,
 * the certificate is in the connection's TLS settings. Chosen when a certificate is given without
 * another method, so a refusal names the certificate rather than "no authentication".
 */
export const clientCertificateAuthentication: Authenticator = {
  method: "client certificate",
  headers: async () => ({}),
  renew: async () => false,
  refusalAdvice:
    "The controller did not accept the client certificate. It must be signed by the CA the controller trusts (ANKA_CA_CERT) and carry O=<group> and CN=<name> in its subject; check that certificate authentication is enabled on the controller.",
};

/** Root token: HTTP Basic with the user name `root` (reference §7.2). */
export function rootTokenAuthentication(token: string): Authenticator {
  const header = `Basic ${Buffer.from(`root:${token}`).toString("base64")}`;
  return {
    method: "root token",
    headers: async () => ({ authorization: header }),
    renew: async () => false,
    refusalAdvice:
      "The controller refused the root token. Give the controller's root token (ANKA_ROOT_TOKEN) exactly, not its base64 form, or use a UAK.",
  };
}

/** The authenticator a transport uses: a factory is called with the context, a certificate alone counts as a method. */
export function resolveAuthenticator(
  setting: AuthenticationSetting | undefined,
  context: AuthenticatorContext,
  hasClientCertificate: boolean,
): Authenticator {
  if (typeof setting === "function") return setting(context);
  return setting ?? (hasClientCertificate ? clientCertificateAuthentication : noAuthentication);
}
