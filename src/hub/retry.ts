/**
 * When and how long to wait before retrying a Hub request: 429 (honouring Retry-After), 5xx and dropped
 * connections, with exponential backoff and full jitter, for a bounded number of attempts.
 */

export interface RetryPolicy {
  /** Total attempts per request, the first included (1 disables retries). Default 5. */
  maxAttempts: number;
  /** First backoff step. Default 500 ms. */
  baseDelayMs: number;
  /** Ceiling of one backoff wait. Default 20 s. */
  maxDelayMs: number;
  /** Ceiling on a server's Retry-After, so a hostile or broken value cannot stall a run. Default 120 s. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 20_000, maxRetryAfterMs: 120_000 };

/** Statuses worth another try: rate limiting and server-side failures. 501 (not implemented) is final. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501);
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), or null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * Wait before attempt `attempt + 1` (attempt counts from 1): the server's Retry-After when given (capped),
 * else a uniformly random time in [0, min(maxDelay, base · 2^(attempt−1))].
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfterMs: number | null, random = Math.random): number {
  if (retryAfterMs !== null) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(random() * ceiling);
}
