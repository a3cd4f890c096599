/**
 * How requests to the controller are authenticated. The transport asks for headers before each
 * request, and tells the authenticator once when the controller says "Authentication Required",
 * so a session-based method can renew its session and the request is tried one more time.
 */
export interface Authenticator {
  /** Short name for logs and `doctor`, e.g. "none", "root token". */
  readonly method: string;
  headers(): Promise<Record<string, string>>;
  /** Called after a 401 / "Authentication Required". Return true when a retry may now succeed. */
  renew(): Promise<boolean>;
}

export const noAuthentication: Authenticator = {
  method: "none",
  headers: async () => ({}),
  renew: async () => false,
};

/** Root token: HTTP Basic with the user name `root` (reference §7.2). */
export function rootTokenAuthentication(token: string): Authenticator {
  const header = `Basic ${Buffer.from(`root:${token}`).toString("base64")}`;
  return {
    method: "root token",
    headers: async () => ({ authorization: header }),
    renew: async () => false,
  };
}
