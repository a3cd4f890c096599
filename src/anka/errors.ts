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
    return this.httpStatus >= 500;
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
    // A gateway's error page (502/503/504) is transient; a 200 with garbage is not going to improve.
    return this.httpStatus >= 500;
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

function isTlsCode(code: string | undefined): boolean {
  return (
    code !== undefined &&
    (code.startsWith("ERR_TLS") ||
      code.startsWith("ERR_SSL") ||
      code.includes("CERT") ||
      code === "DEPTH_ZERO_SELF_SIGNED_CERT" ||
      code === "SELF_SIGNED_CERT_IN_CHAIN")
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
