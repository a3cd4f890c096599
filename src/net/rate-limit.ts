import type http from "node:http";

/**
 * What a server said about its rate limit on one answer. Azure DevOps sends `X-RateLimit-*` on
 * successful answers too (a delayed request is a 200 with `X-RateLimit-Delay`), and `Retry-After`
 * when it blocks with 429; see docs/controller-facts.md, "Azure DevOps: rate limits and paging".
 */
export interface RateLimitSnapshot {
  /** HTTP status of the answer that carried the headers. */
  status: number;
  /** Display text only (`X-RateLimit-Resource`): the service says not to parse it. */
  resource?: string;
  /** Seconds the service held this request back (`X-RateLimit-Delay`, millisecond precision). */
  delaySeconds?: number;
  /** TSTUs allowed in the window (`X-RateLimit-Limit`). */
  limit?: number;
  /** TSTUs left before requests get delayed (`X-RateLimit-Remaining`); 0 when already delayed or blocked. */
  remaining?: number;
  /** Epoch seconds when usage would be back to zero (`X-RateLimit-Reset`). */
  resetEpochSeconds?: number;
  /** From `Retry-After`, already converted to milliseconds from now. */
  retryAfterMs?: number;
}

/** Callback for callers that want to see every throttling signal (task log, pool metrics). */
export type RateLimitListener = (snapshot: RateLimitSnapshot) => void;

/** The rate-limit headers of an answer, or undefined when it carried none. */
export function readRateLimit(
  status: number,
  headers: http.IncomingHttpHeaders,
  now: number = Date.now(),
): RateLimitSnapshot | undefined {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const number = (name: string, parse: (text: string) => number) => {
    const text = header(name);
    if (text === undefined) return undefined;
    const value = parse(text.trim());
    return Number.isFinite(value) ? value : undefined;
  };
  const snapshot: RateLimitSnapshot = { status };
  const resource = header("x-ratelimit-resource");
  if (resource !== undefined) snapshot.resource = resource;
  const fields = {
    delaySeconds: number("x-ratelimit-delay", Number.parseFloat),
    limit: number("x-ratelimit-limit", Number.parseFloat),
    remaining: number("x-ratelimit-remaining", Number.parseFloat),
    resetEpochSeconds: number("x-ratelimit-reset", Number.parseFloat),
    retryAfterMs: retryAfterMs(header("retry-after"), now),
  };
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined) (snapshot as unknown as Record<string, number>)[key] = value;
  return Object.keys(snapshot).length > 1 ? snapshot : undefined;
}

/**
 * `Retry-After` in either form RFC 9110 allows: delta-seconds ("30") or an HTTP date. A date in
 * the past means "now" (0). Anything else is ignored.
 */
export function retryAfterMs(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * How long a polling loop should wait after a pass that saw `snapshot` (undefined: no rate-limit
 * headers in that pass, so the normal interval). Near the limit (remaining under a quarter of it),
 * delayed, told to retry later or refused, the loop waits until the window resets or the server's Retry-After, at least
 * two and at most eight intervals: fewer calls let the usage drain (elastic-pool anchors §5).
 */
export function rateLimitedDelay(
  intervalMs: number,
  snapshot: RateLimitSnapshot | undefined,
  now: number,
): number {
  if (!snapshot) return intervalMs;
  const { remaining, limit } = snapshot;
  // A Retry-After may come on a 200 while requests are being delayed (fact 27): it counts as low too.
  const low =
    snapshot.status === 429 ||
    snapshot.retryAfterMs !== undefined ||
    (snapshot.delaySeconds ?? 0) > 0 ||
    (remaining !== undefined && limit !== undefined && remaining < limit / 4);
  if (!low) return intervalMs;
  const untilReset = snapshot.resetEpochSeconds === undefined ? 0 : snapshot.resetEpochSeconds * 1000 - now;
  const wanted = Math.max(untilReset, snapshot.retryAfterMs ?? 0, 4 * intervalMs);
  return Math.min(8 * intervalMs, Math.max(2 * intervalMs, wanted));
}
