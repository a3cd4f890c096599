// The HTTP side of the emulator: reads a request, records it, applies faults, authenticates, checks the
// api-version and hands `<org>/_apis/...` paths to the router; serves the agent tarball and the OAuth
// token endpoint; leaves `/_emulator/...` to the admin handler.
import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { authenticate, type Principal } from "./auth.ts";
import { OAuthError, type AgentCredentials } from "./agent-credentials.ts";
import { AzdoError, badRequest, routeNotFound, versionNotSpecified, versionOutOfRange } from "./errors.ts";
import type { FaultBook } from "./faults.ts";
import type { Organization } from "./organization.ts";
import type { AgentTarball } from "./packages.ts";
import type { Throttle } from "./throttle.ts";
import type { Reply, Router } from "./router.ts";
import type { RecordedRequest, TokenConfig } from "./types.ts";

/** Newest REST version this emulated service accepts (the newest clients ask 7.2-preview, §7). */
const LATEST_API_VERSION = "7.2";
const OAUTH_TOKEN_PATH = "_apis/oauth2/token";

export interface AdminHandler {
  (method: string, path: string, query: URLSearchParams, body: unknown): Reply | undefined;
}

export interface PipelineDeps {
  organizationName: string;
  organization: Organization;
  tokens: readonly TokenConfig[];
  credentials: AgentCredentials;
  router: Router;
  admin: AdminHandler;
  faults: FaultBook;
  /** Rate limiting per PAT identity, when configured (by option or admin route). */
  throttle: () => Throttle | undefined;
  requests: RecordedRequest[];
  tarball: () => AgentTarball;
  servedFilenames: Set<string>;
  /** http://HOST:PORT */
  origin: string;
  closing: AbortSignal;
}

interface ParsedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  rawBody: string;
  body: unknown;
  bodyError: boolean;
}

export function createRequestListener(deps: PipelineDeps) {
  return (req: IncomingMessage, res: ServerResponse) => {
    handle(deps, req, res).catch((error: unknown) => {
      if (!res.headersSent)
        send(res, { status: 500, json: new AzdoError(500, "Exception", String(error), "System") });
      else res.destroy();
    });
  };
}

async function handle(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = await parse(req);
  if (request.path.startsWith("/_emulator/")) {
    const reply = deps.admin(request.method, request.path, request.query, request.body);
    send(
      res,
      reply ?? { status: 404, json: { message: `No admin route ${request.method} ${request.path}` } },
    );
    return;
  }
  const recorded = record(req, request);
  deps.requests.push(recorded);

  const fault = deps.faults.take(request.method, request.path);
  if (fault) recorded.fault = fault.kind;
  if (fault?.kind === "reset") {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === "status") {
    const status = fault.status ?? 503;
    send(res, {
      status,
      ...(fault.retryAfter ? { headers: { "retry-after": fault.retryAfter } } : {}),
      json: new AzdoError(
        status,
        "VssServiceException",
        "Emulated fault.",
        "Microsoft.VisualStudio.Services.Common",
      ),
    });
    return;
  }
  if (fault?.kind === "delay") await sleep(fault.delayMs ?? 1000);

  if (request.path.startsWith("/_downloads/")) {
    serveDownload(deps, request, res);
    return;
  }
  const orgPrefix = `/${deps.organizationName.toLowerCase()}/`;
  if (!request.path.toLowerCase().startsWith(orgPrefix)) {
    send(res, { status: 404, json: routeNotFound(request.path) });
    return;
  }
  const rest = request.path.slice(orgPrefix.length);
  if (rest.toLowerCase() === OAUTH_TOKEN_PATH && request.method === "POST") {
    send(res, tokenEndpoint(deps, request));
    return;
  }
  if (!rest.toLowerCase().startsWith("_apis/")) {
    send(res, { status: 404, json: routeNotFound(request.path) });
    return;
  }
  send(res, await api(deps, req, res, request, rest.slice("_apis/".length)));
}

async function api(
  deps: PipelineDeps,
  req: IncomingMessage,
  res: ServerResponse,
  request: ParsedRequest,
  apiPath: string,
): Promise<Reply> {
  const { organization } = deps;
  const principal = authenticate(req.headers.authorization, deps.tokens, deps.credentials, organization.now);
  if (!principal) return unauthorized(deps.origin, req.headers["x-tfs-fedauthredirect"]);
  // Limits are per identity; the stand-in agents authenticate as themselves and are not limited here.
  const throttled =
    principal.kind === "user" ? deps.throttle()?.decide(principal.id, req.headers["user-agent"]) : undefined;
  if (throttled?.block) return { status: 429, json: throttled.block, headers: throttled.headers };
  if (throttled?.delayMs) await sleep(throttled.delayMs);
  const reply = await route(deps, req, res, request, apiPath, principal);
  return throttled ? { ...reply, headers: { ...reply.headers, ...throttled.headers } } : reply;
}

async function route(
  deps: PipelineDeps,
  req: IncomingMessage,
  res: ServerResponse,
  request: ParsedRequest,
  apiPath: string,
  principal: Principal,
): Promise<Reply> {
  const { organization } = deps;
  try {
    const version = apiVersion(req, request.query);
    if (version === undefined && request.method !== "GET") throw versionNotSpecified(request.method);
    if (version !== undefined && !versionInRange(version))
      throw versionOutOfRange(version, LATEST_API_VERSION);
    if (request.bodyError) throw badRequest("The request body is not valid JSON.");
    const matched = deps.router.match(request.method, apiPath);
    if (matched === undefined) throw routeNotFound(`/_apis/${apiPath}`);
    if (matched === "methodMismatch") {
      throw new AzdoError(
        405,
        "VssResourceNotFoundException",
        `The requested resource does not support http method '${request.method}'.`,
        "Microsoft.VisualStudio.Services.WebApi",
      );
    }
    organization.sweep();
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const reply = await matched.route.handler({
      method: request.method,
      params: matched.params,
      query: request.query,
      body: request.body,
      principal,
      organization,
      origin: deps.origin,
      orgUrl: `${deps.origin}/${deps.organizationName}`,
      signal: AbortSignal.any([gone.signal, deps.closing]),
    });
    return reply;
  } catch (error) {
    if (error instanceof AzdoError) return { status: error.status, json: error };
    throw error;
  }
}

/** api-version from the query (`?api-version=7.1`) or the Accept header (`application/json;api-version=7.1`). */
function apiVersion(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const fromQuery = query.get("api-version");
  if (fromQuery) return fromQuery;
  return /api-version=([\w.-]+)/i.exec(req.headers.accept ?? "")?.[1];
}

function versionInRange(version: string): boolean {
  const match = /^(\d+)\.(\d+)(-preview(\.\d+)?)?$/i.exec(version);
  if (!match) return false;
  const [latestMajor, latestMinor] = LATEST_API_VERSION.split(".").map(Number) as [number, number];
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major < latestMajor || (major === latestMajor && minor <= latestMinor);
}

/**
 * Missing or unknown credentials: 401 with an empty body and the challenges the service sends
 * (the agent reads `WWW-Authenticate: Bearer`, §2 step 12). A caller that did not send
 * `X-TFS-FedAuthRedirect: Suppress` gets the HTML sign-in page with 203 instead, as users report
 * for GET and POST with bad credentials (fact 24c).
 */
function unauthorized(origin: string, fedAuthRedirect: string | string[] | undefined): Reply {
  if (String(fedAuthRedirect ?? "").toLowerCase() !== "suppress") {
    return {
      status: 203,
      html: `<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body><a href="${origin}/_signin">Sign in</a></body></html>`,
    };
  }
  return {
    status: 401,
    headers: {
      "www-authenticate": `Bearer authorization_uri=https://login.microsoftonline.com/common, Basic realm="${origin}/", TFS-Federated`,
      "x-tfs-fedauthrealm": `${origin}/`,
    },
  };
}

function tokenEndpoint(deps: PipelineDeps, request: ParsedRequest): Reply {
  try {
    const form = new URLSearchParams(request.rawBody);
    const answer = deps.credentials.exchange(
      form,
      (clientId) => deps.organization.agentByClientId(clientId),
      deps.organization.now,
    );
    return { status: 200, json: answer };
  } catch (error) {
    if (error instanceof OAuthError) return { status: 400, json: error };
    throw error;
  }
}

function serveDownload(deps: PipelineDeps, request: ParsedRequest, res: ServerResponse): void {
  const name = decodeURIComponent(request.path.slice("/_downloads/".length));
  if (request.method !== "GET" || !deps.servedFilenames.has(name)) {
    send(res, { status: 404, json: routeNotFound(request.path) });
    return;
  }
  const tarball = deps.tarball();
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": tarball.size });
  createReadStream(tarball.path).pipe(res);
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string | number> = { activityid: randomUUID(), ...reply.headers };
  if (reply.html !== undefined) {
    res.writeHead(reply.status, {
      ...headers,
      "content-type": "text/html; charset=utf-8",
      "content-length": Buffer.byteLength(reply.html),
    });
    res.end(reply.html);
    return;
  }
  if (reply.json === undefined) {
    res.writeHead(reply.status, { ...headers, "content-length": 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(reply.json);
  res.writeHead(reply.status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function parse(req: IncomingMessage): Promise<ParsedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const rawBody = Buffer.concat(chunks).toString();
  const url = new URL(req.url ?? "/", "http://emulator");
  let body: unknown;
  let bodyError = false;
  const contentType = req.headers["content-type"] ?? "";
  if (rawBody && (contentType.includes("json") || /^\s*[[{]/.test(rawBody))) {
    try {
      body = JSON.parse(rawBody);
    } catch {
      body = rawBody;
      bodyError = true;
    }
  } else if (rawBody) {
    body = rawBody;
  }
  return {
    method: req.method ?? "GET",
    path: url.pathname,
    query: url.searchParams,
    rawBody,
    body,
    bodyError,
  };
}

/** What the request log keeps: credentials reduced to their scheme, client assertions hidden. */
function record(req: IncomingMessage, request: ParsedRequest): RecordedRequest {
  const headers = { ...req.headers };
  for (const name of ["authorization", "proxy-authorization"] as const) {
    const value = headers[name];
    if (typeof value === "string") headers[name] = value.split(/\s+/, 1)[0] ?? "";
  }
  const body =
    typeof request.body === "string" && request.body.includes("client_assertion=")
      ? request.body.replace(/client_assertion=[^&]*/, "client_assertion=REDACTED")
      : request.body;
  return {
    method: request.method,
    path: request.path,
    query: Object.fromEntries(request.query),
    headers,
    body,
    time: Date.now(),
  };
}
