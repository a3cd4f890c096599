import {
  resolveAuthenticator,
  type AuthenticationSetting,
  type Authenticator,
  type AuthenticatorContext,
} from "./auth.ts";
import { realClock, type Clock } from "../clock.ts";
import { openEnvelope } from "./envelope.ts";
import {
  ControllerAuthenticationError,
  ControllerError,
  ControllerFailError,
  ControllerShapeError,
  ControllerTimeoutError,
  networkErrorFor,
  type RequestDescription,
} from "./errors.ts";
import {
  HttpSender,
  RequestTimeout,
  type RawRequest,
  type RawResponse,
  type TlsOptions,
} from "../net/http.ts";
import type { ProxySettings } from "../net/proxy.ts";
import { retryAfterMs } from "../net/rate-limit.ts";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy, type ServerPacedError } from "../net/retry.ts";
import { ShapeProblem } from "./shape.ts";
import { checkControllerTls } from "./tls.ts";

export interface TransportOptions {
  /** Controller base URL: scheme, host and port (reference §1). */
  url: string;
  /** CA, client certificate (mTLS, reference §7.3) and skip-verify; checked when the client is built. */
  tls?: TlsOptions;
  /** Proxy for requests to this server; absent: direct. */
  proxy?: ProxySettings;
  /** An authenticator, or a factory for one that talks to the controller itself (UAK). */
  auth?: AuthenticationSetting;
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
  /** Deadline of one HTTP exchange. */
  readonly timeoutMs: number;
  readonly retryPolicy: RetryPolicy;
  readonly clock: Clock;
  private readonly random: () => number;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly userAgent: string;

  constructor(options: TransportOptions) {
    this.baseUrl = parseBaseUrl(options.url);
    checkControllerTls(this.baseUrl, options.tls);
    this.sender = new HttpSender(this.baseUrl, options.tls, options.proxy);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry;
    this.userAgent = options.userAgent ?? "anka-azure-pipelines";
    const context: AuthenticatorContext = {
      baseUrl: this.baseUrl,
      clock: this.clock,
      post: (path, body) => this.postWithoutAuthentication(path, body),
    };
    this.auth = resolveAuthenticator(options.auth, context, options.tls?.cert !== undefined);
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
    const credentials = await this.auth.headers();
    try {
      return await this.exchange(method, path, options, credentials);
    } catch (error) {
      if (!(error instanceof ControllerFailError && error.authenticationRequired)) throw error;
      if (await this.auth.renew(credentials)) {
        try {
          return await this.exchange(method, path, options, await this.auth.headers());
        } catch (again) {
          throw this.refusal(again);
        }
      }
      throw this.refusal(error);
    }
  }

  /** A final "Authentication Required" becomes an error that says which method was refused and what to do. */
  private refusal(error: unknown): unknown {
    if (!(error instanceof ControllerFailError && error.authenticationRequired)) return error;
    if (!this.auth.refusalAdvice) return error;
    return new ControllerAuthenticationError(error, this.auth.method, this.auth.refusalAdvice);
  }

  private async exchange(
    method: string,
    path: string,
    options: CallOptions,
    credentials: Record<string, string>,
  ): Promise<unknown> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const request: RequestDescription = { method, url: `${url.origin}${url.pathname}${url.search}` };
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": this.userAgent,
      ...credentials,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    const response = await this.send(request, { method, url, headers, body });
    try {
      return openEnvelope(request, response);
    } catch (error) {
      // A 429 or 503 that says when to come back: the shared retry waits that long (src/net/retry.ts).
      const retryAfter = retryAfterMs(headerValue(response.headers["retry-after"]), this.clock.now());
      if (retryAfter !== undefined && error instanceof ControllerError)
        (error as ServerPacedError).retryAfterMs = retryAfter;
      throw error;
    }
  }

  /** For authenticators that talk to the controller (UAK's handshake): same pool, TLS and timeout. */
  private async postWithoutAuthentication(
    path: string,
    body: unknown,
  ): Promise<{ request: RequestDescription; response: RawResponse }> {
    const url = new URL(path, this.baseUrl);
    const request: RequestDescription = { method: "POST", url: url.toString() };
    const headers = { accept: "*/*", "content-type": "application/json", "user-agent": this.userAgent };
    const response = await this.send(request, { method: "POST", url, headers, body: JSON.stringify(body) });
    return { request, response };
  }

  private async send(request: RequestDescription, raw: Omit<RawRequest, "timeoutMs">): Promise<RawResponse> {
    try {
      return await this.sender.send({ ...raw, timeoutMs: this.timeoutMs });
    } catch (error) {
      if (error instanceof RequestTimeout) throw new ControllerTimeoutError(request, this.timeoutMs);
      throw networkErrorFor(request, error);
    }
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
