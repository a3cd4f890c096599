// Azure DevOps rate limiting per identity (docs/controller-facts.md, "Azure DevOps: rate limits and paging"): usage in a
// sliding window; near the limit answers carry X-RateLimit-* headers ("flag"), over it they are held
// back and carry X-RateLimit-Delay ("tarpit", still 200), and further over it they are refused with 429,
// TF400733 and Retry-After ("block"). Each request costs one unit here: the service's TSTU cost of a
// call is not published, so the unit is our choice.
import { AzdoError } from "./errors.ts";

export interface ThrottleConfig {
  /** Units an identity may use in the window before its requests are delayed. */
  limit: number;
  /** Length of the sliding window; the service's is 5 minutes. Default 300000. */
  windowMs?: number;
  /** Headers start once usage reaches this share of the limit (the service flags before it delays). Default 0.5. */
  flagAt?: number;
  /** How long a tarpitted request is held. Default 50 ms. */
  delayMs?: number;
  /** Requests delayed past the limit before the next ones are blocked with 429. Default 5. */
  delayedBeforeBlock?: number;
  /** What `X-RateLimit-Resource` names. Default "Core". */
  resource?: string;
  /**
   * Limit only requests whose User-Agent contains this text (default: every PAT request). The
   * stand-in agent in a VM shares the pipeline's PAT but, unlike the real agent, never retries, so a
   * test of our client throttles our client ("anka-azure-pipelines") and leaves the agent alone.
   */
  userAgentIncludes?: string;
}

export interface ThrottleDecision {
  headers: Record<string, string>;
  /** Hold the request this long, then handle it. */
  delayMs: number;
  /** Refuse the request with this error instead of handling it. */
  block?: AzdoError;
}

export class Throttle {
  private readonly usage = new Map<string, number[]>();
  /** Counts for tests and the admin endpoint: how many answers were flagged, delayed, blocked. */
  readonly counts = { flagged: 0, delayed: 0, blocked: 0 };

  constructor(
    readonly config: ThrottleConfig,
    private readonly now: () => number,
  ) {
    if (!(config.limit > 0)) throw new Error("throttle.limit must be a positive number of requests");
  }

  /** Decides one request of `identity` and counts it unless it is blocked. */
  decide(identity: string, userAgent = ""): ThrottleDecision {
    const only = this.config.userAgentIncludes;
    if (only !== undefined && !userAgent.includes(only)) return { headers: {}, delayMs: 0 };
    const now = this.now();
    const windowMs = this.config.windowMs ?? 300_000;
    const times = (this.usage.get(identity) ?? []).filter((time) => time > now - windowMs);
    this.usage.set(identity, times);
    const { limit } = this.config;
    const used = times.length;
    if (used < limit * (this.config.flagAt ?? 0.5)) {
      times.push(now);
      return { headers: {}, delayMs: 0 };
    }
    const remaining = Math.max(0, limit - used - 1);
    const newest = times[times.length - 1] ?? now;
    const headers: Record<string, string> = {
      "x-ratelimit-resource": this.config.resource ?? "Core",
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(remaining),
      "x-ratelimit-reset": String(Math.ceil((Math.max(newest, now) + windowMs) / 1000)),
    };
    if (used >= limit + (this.config.delayedBeforeBlock ?? 5)) {
      this.counts.blocked += 1;
      // Blocked requests are not counted: the window drains, and Retry-After says when a unit frees.
      const oldest = times[0] ?? now;
      const retryAfter = Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
      return {
        headers: { ...headers, "x-ratelimit-remaining": "0", "retry-after": String(retryAfter) },
        delayMs: 0,
        block: rateLimited(this.config.resource ?? "Core", identity),
      };
    }
    times.push(now);
    if (used >= limit) {
      this.counts.delayed += 1;
      const delayMs = this.config.delayMs ?? 50;
      return {
        headers: {
          ...headers,
          "x-ratelimit-remaining": "0",
          "x-ratelimit-delay": (delayMs / 1000).toFixed(3),
        },
        delayMs,
      };
    }
    this.counts.flagged += 1;
    return { headers, delayMs: 0 };
  }
}

/** Message form from the rate-limits documentation (fact 27); the namespace id is the identity's here. */
const rateLimited = (resource: string, identity: string) =>
  new AzdoError(
    429,
    "RequestBlockedException",
    `TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource '${resource}' in namespace '${identity}'.`,
    "Microsoft.TeamFoundation.Framework.Server",
  );
