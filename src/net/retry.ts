/** How often and how patiently to retry a request that failed for a transient reason. */
export interface RetryPolicy {
  /** Total attempts, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * The longest server-requested wait (`Retry-After`) honoured before a retry; a longer request is
   * cut to this, so a task never sleeps for an hour on one header. Default 120 s.
   */
  maxRetryAfterMs?: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 8_000 };
const DEFAULT_MAX_RETRY_AFTER_MS = 120_000;

/**
 * An error whose server said when to come back (`Retry-After` on a 429 or 503). The retry loop
 * waits that long instead of its own backoff: the server knows its load better than our jitter.
 */
export interface ServerPacedError {
  retryAfterMs?: number;
}

/**
 * Exponential backoff with "full jitter": a random delay between 0 and the exponential cap, so
 * that many clients that failed together (200 pipelines and one controller restart) do not come
 * back together.
 */
export function backoffDelay(
  retryNumber: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retryNumber - 1));
  return Math.round(random() * cap);
}

export interface RetryContext {
  policy: RetryPolicy;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  /** Whether this failure is worth another attempt. */
  isRetryable: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `attempt` until it succeeds, fails for good, or the policy's attempts are used up. */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, context: RetryContext): Promise<T> {
  const attempts = Math.max(1, context.policy.attempts);
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= attempts || !context.isRetryable(error)) throw error;
      const delayMs = serverDelay(error, context.policy) ?? backoffDelay(n, context.policy, context.random);
      context.onRetry?.(error, n, delayMs);
      await context.sleep(delayMs);
    }
  }
}

function serverDelay(error: unknown, policy: RetryPolicy): number | undefined {
  const asked = (error as ServerPacedError | undefined)?.retryAfterMs;
  if (typeof asked !== "number" || !Number.isFinite(asked) || asked < 0) return undefined;
  return Math.min(asked, policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS);
}
