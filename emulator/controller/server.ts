// The HTTP pipeline: read the request, record it, let an HTTP fault rule answer or spoil it, else route it.
import { STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { ApiRequest, Handler } from "./api-routes.ts";
import { redactedHeaders, type AuthGate } from "./auth-gate.ts";
import type { FaultBook, HttpFaultRule } from "./faults.ts";
import { failEnvelope, textReply, type Reply } from "./reply.ts";
import type { RecordedRequest } from "./types.ts";

export interface PipelineParts {
  api: Handler;
  admin: Handler;
  faults: FaultBook;
  requests: RecordedRequest[];
  nowMs: () => number;
  /** Present when auth is enabled. */
  gate?: AuthGate;
}

const ADMIN_PREFIX = "/_emulator/";
const DEFAULT_DELAY_MS = 1000;
/** reference §1, §7: the one refusal the controller sends for a missing, wrong or expired credential. */
const AUTHENTICATION_REQUIRED = "Authentication Required";

export function createRequestPipeline(parts: PipelineParts): { listener: RequestListener; dispose(): void } {
  const closing = new AbortController();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator.invalid");
    const request: ApiRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      rawBody: await readBody(req),
    };
    if (request.path.startsWith(ADMIN_PREFIX)) return write(res, parts.admin(request));

    const record: RecordedRequest = {
      method: request.method,
      path: request.path,
      query: Object.fromEntries(url.searchParams),
      headers: redactedHeaders(req.headers),
      body: withoutSecrets(loggedBody(request.rawBody)),
      time: parts.nowMs(),
    };
    parts.requests.push(record);
    const identity = parts.gate?.identify(req);
    if (identity) record.auth = request.identity = identity;

    const fault = parts.faults.takeHttpFault(request.method, request.path);
    if (fault) record.fault = fault.kind;
    switch (fault?.kind) {
      case "reset":
        return void req.socket.destroy();
      case "status":
      case "html":
      case "malformed":
      case "empty":
        return write(res, faultReply(fault));
      case "delay":
        // Handled afterwards even if the client gave up meanwhile, as a real server would.
        await sleep(fault.delayMs ?? DEFAULT_DELAY_MS, undefined, { signal: closing.signal }).catch(() => {});
        // A closed emulator changes no state any more.
        if (closing.signal.aborted) return void req.socket.destroy();
        break;
    }
    const refused = parts.gate && !identity && !parts.gate.isOpen(request.path);
    const reply = refused ? failEnvelope(401, AUTHENTICATION_REQUIRED) : parts.api(request);
    // The ambiguous case: the state changed (e.g. an instance was started) but the client never hears it.
    if (fault?.kind === "reset-after-handling") return void req.socket.destroy();
    write(res, reply);
  }

  return {
    listener: (req, res) => {
      handle(req, res).catch((error: unknown) => {
        // An emulator bug must be visible to the test that hit it, not hang it.
        if (!res.headersSent)
          write(res, failEnvelope(500, `emulator error: ${(error as Error).stack ?? error}`));
      });
    },
    dispose: () => closing.abort(),
  };
}

function faultReply(rule: HttpFaultRule): Reply {
  switch (rule.kind) {
    case "status": {
      const status = rule.status ?? 503;
      if (rule.body !== undefined) return textReply(status, rule.body);
      return failEnvelope(status, rule.message ?? STATUS_CODES[status] ?? "Error");
    }
    case "html": {
      const status = rule.status ?? 502;
      return textReply(status, proxyErrorPage(status), "text/html");
    }
    case "malformed":
      return {
        status: rule.status ?? 200,
        contentType: "application/json",
        body: '{"status":"OK","message":"","body":[{"inst',
      };
    default:
      return { status: rule.status ?? 200, contentType: "application/json", body: "" };
  }
}

/** What a reverse proxy in front of the controller answers when the controller is down. */
function proxyErrorPage(status: number): string {
  const title = `${status} ${STATUS_CODES[status] ?? "Error"}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

function write(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  res.writeHead(reply.status, {
    "Content-Type": reply.contentType,
    "Content-Length": Buffer.byteLength(reply.body),
    ...reply.headers,
  });
  res.end(reply.body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The UAK handshake secret (reference §7.4 step 3) stays out of the log. */
function withoutSecrets(body: unknown): unknown {
  if (typeof body !== "object" || body === null || !("secret" in body)) return body;
  return { ...body, secret: "[redacted]" };
}

function loggedBody(raw: string): unknown {
  if (raw === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
