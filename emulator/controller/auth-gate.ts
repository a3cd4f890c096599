// Who a request is (reference §7): root token, UAK session bearer, or TLS client certificate.
import { timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { TapService } from "./tap.ts";
import type { AuthIdentity } from "./types.ts";

export interface AuthGate {
  /** Health probes (reference §2, D-HC) and the UAK handshake (§7.4 step 1) need no credential. */
  isOpen(path: string): boolean;
  /** The identity one of the request's credentials proves; any one valid credential is enough. */
  identify(req: IncomingMessage): AuthIdentity | undefined;
}

export interface AuthGateOptions {
  rootToken: string;
  tap: TapService | undefined;
  clientCertificates: boolean;
}

const OPEN_PATHS = new Set(["/livez", "/readyz"]);
const TAP_PREFIX = "/tap/v1/";

export function createAuthGate({ rootToken, tap, clientCertificates }: AuthGateOptions): AuthGate {
  const fromHeader = (authorization: string): AuthIdentity | undefined => {
    const [scheme = "", credential = ""] = authorization.trim().split(/\s+/, 2);
    switch (scheme.toLowerCase()) {
      case "basic": {
        const decoded = Buffer.from(credential, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        const user = decoded.slice(0, colon);
        // reference §7.2: user "root"; GHA sends an empty user name.
        if (colon < 0 || (user !== "root" && user !== "")) return undefined;
        return sameText(decoded.slice(colon + 1), rootToken)
          ? { method: "root token", user: "root" }
          : undefined;
      }
      case "bearer":
        return tap?.identify(credential);
      default:
        return undefined;
    }
  };

  const fromCertificate = (req: IncomingMessage): AuthIdentity | undefined => {
    const socket = req.socket as Partial<TLSSocket>;
    if (!clientCertificates || !socket.encrypted || !socket.authorized || !socket.getPeerCertificate) {
      return undefined;
    }
    const subject = socket.getPeerCertificate().subject;
    const group = first(subject?.O);
    const name = first(subject?.CN);
    // reference §7.3: the subject needs O= (the permission group) and CN=.
    if (!group || !name) return undefined;
    return { method: "certificate", user: name, group };
  };

  return {
    isOpen: (path) => OPEN_PATHS.has(path) || path.startsWith(TAP_PREFIX),
    identify: (req) => {
      const header = req.headers.authorization;
      return (header ? fromHeader(header) : undefined) ?? fromCertificate(req);
    },
  };
}

/** The Authorization header reduced to its scheme: the log keeps no credential. */
export function redactedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  if (headers.authorization === undefined) return headers;
  const scheme = headers.authorization.trim().split(/\s+/, 1)[0] ?? "";
  return { ...headers, authorization: scheme };
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
