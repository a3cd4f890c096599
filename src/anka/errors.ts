/**
 * Errors raised by the controller client. Each one says what happened, to which request, and
 * (where we can tell) what to do about it. None of them ever carries a request body: start
 * requests hold the startup script, which may hold secrets.
 */

export interface RequestDescription {
  method: string;
  url: string;
}

/** Anything that went wrong talking to the controller. */
export abstract class ControllerError extends Error {
  abstract readonly retryable: boolean;
  /** True when the request may have been processed even though we got no clean answer. */
  abstract readonly ambiguous: boolean;
  readonly request: RequestDescription;

  constructor(message: string, request: RequestDescription, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.request = request;
  }
}

/** The controller answered with its envelope and a status other than "OK". */
export class ControllerFailError extends ControllerError {
  readonly httpStatus: number;
  /** The controller's own `message`, e.g. "VM not in the registry". */
  readonly controllerMessage: string;
  readonly envelopeStatus: string;

  constructor(
    request: RequestDescription,
    httpStatus: number,
    envelopeStatus: string,
    controllerMessage: string,
  ) {
    super(
      `Anka controller refused ${request.method} ${request.url}: ${controllerMessage || "(no message)"} (HTTP ${httpStatus}, status ${envelopeStatus})`,
      request,
    );
    this.httpStatus = httpStatus;
    this.envelopeStatus = envelopeStatus;
    this.controllerMessage = controllerMessage;
  }

  get retryable(): boolean {
    // 429: refused for load, so not processed; worth another try after Retry-After.
    return this.httpStatus >= 500 || this.httpStatus === 429;
  }
  get ambiguous(): boolean {
    return this.httpStatus >= 500;
  }
  get notFound(): boolean {
    return /^not found$/i.test(this.controllerMessage.trim());
  }
  get authenticationRequired(): boolean {
    return /authentication required/i.test(this.controllerMessage);
  }
}

/** The answer was not the controller's JSON envelope: a proxy's HTML page, an empty or cut body. */
export class ControllerResponseError extends ControllerError {
  readonly httpStatus: number;
  readonly excerpt: string;

  constructor(request: RequestDescription, httpStatus: number, problem: string, bodyText: string) {
    const excerpt = excerptOf(bodyText);
    super(
      `Unexpected answer from the Anka controller to ${request.method} ${request.url}: ${problem} (HTTP ${httpStatus}${excerpt ? `, body starts: ${JSON.stringify(excerpt)}` : ", empty body"}). ` +
        "Check that the service connection URL points at the controller itself (e.g. https://anka.example.com:8090), not at a proxy or login page.",
      request,
    );
    this.httpStatus = httpStatus;
    this.excerpt = excerpt;
  }

  get retryable(): boolean {
    // A gateway's error page (429, 502/503/504) is transient; a 200 with garbage is not going to improve.
    return this.httpStatus >= 500 || this.httpStatus === 429;
  }
  get ambiguous(): boolean {
    return true;
  }
}

/** No answer at all: refused, reset, DNS, TLS failure. */
export class ControllerNetworkError extends ControllerError {
  readonly code: string | undefined;

  constructor(request: RequestDescription, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(
      `Cannot reach the Anka controller (${request.method} ${request.url}): ${(cause as Error)?.message ?? String(cause)}${hintFor(code)}`,
      request,
      { cause },
    );
    this.code = code;
  }

  get retryable(): boolean {
    return !isTlsCode(this.code);
  }
  get ambiguous(): boolean {
    // The request cannot have been processed if the connection was never made.
    return !(this.code === "ECONNREFUSED" || this.code === "ENOTFOUND" || this.code === "EAI_AGAIN");
  }
}

/**
 * The TLS handshake with the controller failed: its certificate is not trusted or not for this
 * host, or it refused ours. Never retried: the same handshake fails the same way.
 */
export class ControllerTlsError extends ControllerNetworkError {
  constructor(request: RequestDescription, cause: unknown) {
    super(request, cause);
    this.message = `TLS connection to the Anka controller failed (${request.method} ${request.url}): ${tlsAdvice(cause as TlsFailure)}`;
  }

  override get retryable(): boolean {
    return false;
  }
}

/** A network failure as the right error: TLS failures get their own type and advice. */
export function networkErrorFor(request: RequestDescription, cause: unknown): ControllerNetworkError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return isTlsCode(code) || code === "EPROTO"
    ? new ControllerTlsError(request, cause)
    : new ControllerNetworkError(request, cause);
}

/**
 * The controller still answered "Authentication Required" after the authenticator had its one
 * chance to renew (reference §1, §7). The message says which method was refused and what to fix.
 */
export class ControllerAuthenticationError extends ControllerFailError {
  readonly authMethod: string;

  constructor(refusal: ControllerFailError, authMethod: string, advice: string) {
    super(refusal.request, refusal.httpStatus, refusal.envelopeStatus, refusal.controllerMessage);
    this.authMethod = authMethod;
    this.message = `The Anka controller refused ${refusal.request.method} ${refusal.request.url}: ${refusal.controllerMessage} (HTTP ${refusal.httpStatus}). ${advice}`;
  }
}

/**
 * The UAK handshake (POST /tap/v1/hand, /tap/v1/shake, reference §7.4) did not yield a session:
 * unknown or expired key, a private key that does not fit the id, a refused secret.
 */
export class UakHandshakeError extends ControllerError {
  readonly retryable: boolean;
  readonly ambiguous = false;

  constructor(request: RequestDescription, message: string, retryable: boolean) {
    super(message, request);
    this.retryable = retryable;
  }
}

/** The controller did not answer within the per-request timeout. */
export class ControllerTimeoutError extends ControllerError {
  readonly timeoutMs: number;

  constructor(request: RequestDescription, timeoutMs: number) {
    super(
      `The Anka controller did not answer ${request.method} ${request.url} within ${timeoutMs} ms`,
      request,
    );
    this.timeoutMs = timeoutMs;
  }

  readonly retryable = true;
  readonly ambiguous = true;
}

/** The envelope was fine but its body does not have the shape the API documents. */
export class ControllerShapeError extends ControllerError {
  constructor(request: RequestDescription, problem: string) {
    super(
      `Unexpected answer from the Anka controller to ${request.method} ${request.url}: ${problem}`,
      request,
    );
  }
  readonly retryable = false;
  readonly ambiguous = false;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ControllerFailError && error.notFound;
}

function excerptOf(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}

/** OpenSSL verification codes that name no CERT (the others do). */
const TLS_VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "HOSTNAME_MISMATCH",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
]);

function isTlsCode(code: string | undefined): boolean {
  return (
    code !== undefined &&
    (code.startsWith("ERR_TLS") ||
      code.startsWith("ERR_SSL") ||
      code.includes("CERT") ||
      TLS_VERIFY_CODES.has(code))
  );
}

function hintFor(code: string | undefined): string {
  switch (code) {
    case "ECONNREFUSED":
      return ". Nothing listens there: check the host and port of the service connection URL.";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return ". The host name does not resolve: check the service connection URL.";
    default:
      return "";
  }
}

/** What Node puts on a TLS failure: `code`, and for a name mismatch the host and the peer certificate. */
interface TlsFailure extends Error {
  code?: string;
  host?: string;
  cert?: { subjectaltname?: string; subject?: { CN?: string | string[] } };
}

function tlsAdvice(cause: TlsFailure | undefined): string {
  const code = cause?.code ?? "";
  // Node reports a plain-HTTP answer to a TLS hello as EPROTO with OpenSSL's text.
  const plainHttp = code === "EPROTO" && /wrong version number/i.test(cause?.message ?? "");
  const what = `${plainHttp ? "wrong version number" : (cause?.message ?? String(cause)).trim()} [${code}]`;
  switch (plainHttp ? "ERR_SSL_WRONG_VERSION_NUMBER" : code) {
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "CERT_UNTRUSTED":
      return `the controller's certificate is not signed by a CA this agent trusts (${what}). Give the controller's CA certificate in the connection (caCertificate).`;
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return `the controller's certificate is self-signed (${what}). Give the controller's CA certificate in the connection (caCertificate); for a self-signed certificate that is the certificate itself.`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `the controller's certificate is not issued for host "${cause?.host ?? "?"}"; it names ${certificateNames(cause)}. Use the name in the certificate in the controller URL (or reissue the certificate for this host).`;
    case "CERT_HAS_EXPIRED":
      return `the controller's certificate has expired (${what}). Renew the controller's certificate.`;
    case "CERT_NOT_YET_VALID":
      return `the controller's certificate is not valid yet (${what}). Check the clocks of this agent and the controller.`;
    case "ERR_SSL_WRONG_VERSION_NUMBER":
      return `the controller does not speak TLS on this port (${what}). Use http:// for a plain-HTTP controller, or the port of its HTTPS listener.`;
    case "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED":
    case "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE":
    case "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA":
    case "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN":
      return `the controller refused the client certificate (${what}). Give a client certificate signed by the CA the controller trusts (ANKA_CA_CERT) with its unencrypted key.`;
    default:
      return `${what}. Check the controller's certificate and the connection's TLS settings (caCertificate, client certificate).`;
  }
}

function certificateNames(cause: TlsFailure | undefined): string {
  const altNames = cause?.cert?.subjectaltname;
  if (altNames) return altNames;
  const commonName = cause?.cert?.subject?.CN;
  return commonName ? `CN=${[commonName].flat().join(", ")} and no subjectAltName` : "no names";
}
