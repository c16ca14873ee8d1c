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

/**
 * Seconds until the quota resets, from the IETF `RateLimit` header the Hub sends (draft-ietf-httpapi-ratelimit-headers
 * v9, e.g. `"api";r=0;t=55`; several policies are comma-separated), in milliseconds: the largest `t` of an item with
 * nothing left (`r=0`), else the largest `t`. Null when absent or unreadable. huggingface_hub (1.2+) waits this long.
 */
export function parseRateLimitReset(value: string | null): number | null {
  if (value === null) return null;
  let exhausted: number | null = null;
  let any: number | null = null;
  for (const item of value.split(",")) {
    const params = new Map<string, string>();
    for (const p of item.split(";").slice(1)) {
      const m = p.trim().match(/^([a-z]+)=(\d{1,9})$/i);
      if (m) params.set((m[1] ?? "").toLowerCase(), m[2] ?? "");
    }
    const t = params.get("t");
    if (t === undefined) continue;
    const ms = Number(t) * 1000;
    any = Math.max(any ?? 0, ms);
    if (params.get("r") === "0") exhausted = Math.max(exhausted ?? 0, ms);
  }
  return exhausted ?? any;
}

/** How long the server asks a client to wait, in ms: Retry-After first, else the RateLimit header's reset time. */
export function serverWaitMs(headers: Headers, now = Date.now()): number | null {
  return parseRetryAfter(headers.get("retry-after"), now) ?? parseRateLimitReset(headers.get("ratelimit"));
}
