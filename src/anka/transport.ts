import { noAuthentication, type Authenticator } from "./auth.ts";
import { realClock, type Clock } from "../clock.ts";
import { openEnvelope } from "./envelope.ts";
import {
  ControllerError,
  ControllerFailError,
  ControllerNetworkError,
  ControllerShapeError,
  ControllerTimeoutError,
  type RequestDescription,
} from "./errors.ts";
import { HttpSender, RequestTimeout, type TlsOptions } from "../net/http.ts";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from "../net/retry.ts";
import { ShapeProblem } from "./shape.ts";

export interface TransportOptions {
  /** Controller base URL: scheme, host and port (reference §1). */
  url: string;
  tls?: TlsOptions;
  auth?: Authenticator;
  /** Deadline for one HTTP exchange. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  clock?: Clock;
  random?: () => number;
  /** Told about each retry, for the task log. */
  onRetry?: (event: RetryEvent) => void;
  userAgent?: string;
}

export interface RetryEvent {
  request: RequestDescription;
  attempt: number;
  attempts: number;
  delayMs: number;
  error: ControllerError;
}

export interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** GET, PUT and DELETE are idempotent and retried; a start (POST) is not retried here. */
  idempotent: boolean;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The one HTTP layer to the controller: authentication, the envelope, the per-request timeout,
 * and retries with backoff for idempotent calls. Endpoint knowledge lives in the client above.
 */
export class ControllerTransport {
  readonly baseUrl: URL;
  private readonly sender: HttpSender;
  private readonly auth: Authenticator;
  private readonly timeoutMs: number;
  readonly retryPolicy: RetryPolicy;
  readonly clock: Clock;
  private readonly random: () => number;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly userAgent: string;

  constructor(options: TransportOptions) {
    this.baseUrl = parseBaseUrl(options.url);
    this.sender = new HttpSender(this.baseUrl, options.tls);
    this.auth = options.auth ?? noAuthentication;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry;
    this.userAgent = options.userAgent ?? "anka-azure-pipelines";
  }

  get authMethod(): string {
    return this.auth.method;
  }

  /** Sends one call (retrying it when allowed) and returns the envelope's `body`. */
  async call(method: string, path: string, options: CallOptions): Promise<unknown> {
    return withRetries(() => this.callOnce(method, path, options), {
      policy: options.idempotent ? this.retryPolicy : { ...this.retryPolicy, attempts: 1 },
      sleep: (ms) => this.clock.sleep(ms),
      random: this.random,
      isRetryable: (error) => error instanceof ControllerError && error.retryable,
      onRetry: (error, attempt, delayMs) =>
        this.onRetry?.({
          request: (error as ControllerError).request,
          attempt,
          attempts: this.retryPolicy.attempts,
          delayMs,
          error: error as ControllerError,
        }),
    });
  }

  /** One call, renewing the session once if the controller asks for authentication. */
  private async callOnce(method: string, path: string, options: CallOptions): Promise<unknown> {
    try {
      return await this.exchange(method, path, options);
    } catch (error) {
      if (error instanceof ControllerFailError && error.authenticationRequired && (await this.auth.renew())) {
        return await this.exchange(method, path, options);
      }
      throw error;
    }
  }

  private async exchange(method: string, path: string, options: CallOptions): Promise<unknown> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const request: RequestDescription = { method, url: `${url.origin}${url.pathname}${url.search}` };
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": this.userAgent,
      ...(await this.auth.headers()),
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    let response;
    try {
      response = await this.sender.send({ method, url, headers, body, timeoutMs: this.timeoutMs });
    } catch (error) {
      if (error instanceof RequestTimeout) throw new ControllerTimeoutError(request, this.timeoutMs);
      throw new ControllerNetworkError(request, error);
    }
    return openEnvelope(request, response);
  }

  /** Turns a body-shape problem into an error that names the request. */
  shapeError(method: string, path: string, problem: unknown): unknown {
    if (!(problem instanceof ShapeProblem)) return problem;
    return new ControllerShapeError({ method, url: new URL(path, this.baseUrl).toString() }, problem.message);
  }

  close(): void {
    this.sender.close();
  }
}

function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      `The Anka controller URL ${JSON.stringify(text)} is not a URL. Use the controller's base URL, e.g. https://anka.example.com:8090`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`The Anka controller URL ${JSON.stringify(text)} must start with http:// or https://`);
  }
  if (url.username || url.password) {
    throw new Error(
      "The Anka controller URL must not contain a user name or password; use the connection's authentication instead",
    );
  }
  // Paths are absolute on the controller (reference §1): keep only scheme, host and port.
  return new URL(url.origin);
}
