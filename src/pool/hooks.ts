import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { PoolHooksConfig } from "./config.ts";

/**
 * Push as well as poll (issue 14 item 2): Azure DevOps service hooks
 * (`ms.vss-pipelines.job-state-changed-event`) call `POST /hooks` when a job is queued, started or
 * completed. A call is only a reason to reconcile now: its body is never read for decisions (the
 * pass reads the job requests as always), so a forged or stale payload can do no harm beyond an
 * early pass, and an unauthenticated one not even that.
 */

/** Hook bodies are small JSON documents; anything larger is refused before it is buffered. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * Wakes the service loop early, coalescing bursts: every call while a pass runs adds up to one
 * more pass right after it, and calls while it sleeps end the sleep once.
 */
export class PassTrigger {
  private controller = new AbortController();

  /** Called as a pass begins: calls from now on ask for the pass after this one. */
  arm(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController();
  }

  fire(): void {
    this.controller.abort();
  }

  /** Aborted once a call came since the last `arm()`. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }
}

export type HookOutcome = "accepted" | "unauthorized" | "too_large" | "method_not_allowed";

/** Answers one request to `/hooks`; `onAccepted` runs for an authenticated POST. */
export function handleHook(
  config: PoolHooksConfig,
  req: IncomingMessage,
  res: ServerResponse,
  onOutcome: (outcome: HookOutcome) => void,
): void {
  const finish = (outcome: HookOutcome, status: number, headers: Record<string, string> = {}) => {
    onOutcome(outcome);
    res.writeHead(status, { "content-type": "text/plain", ...headers }).end(`${outcome}\n`);
  };
  if (req.method !== "POST") return finish("method_not_allowed", 405, { allow: "POST" });
  if (!authorized(config, req.headers.authorization)) {
    req.resume();
    return finish("unauthorized", 401, { "www-authenticate": 'Basic realm="anka-pool hooks"' });
  }
  let size = 0;
  let refused = false;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES && !refused) {
      refused = true;
      finish("too_large", 413, { connection: "close" });
      req.destroy();
    }
  });
  req.on("end", () => {
    if (!refused) finish("accepted", 200);
  });
}

function authorized(config: PoolHooksConfig, header: string | undefined): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!match) return false;
  const given = Buffer.from(match[1] as string, "base64").toString("utf8");
  // Compared as digests, so that the comparison takes the same time whatever the lengths.
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(`${config.username}:${config.password}`));
}
