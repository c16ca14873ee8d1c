/**
 * The one `fetch` every Hub call goes through. It
 * - attaches the token to requests for the endpoint's origin only, and strips Authorization from any other
 *   origin (LFS storage hosts, redirects) and from every hop after a redirect left the endpoint, so the token is
 *   never sent elsewhere; the official client only ever holds a placeholder (redirect-rules.ts, shared with the
 *   range-read transport of file bytes, store/range-http.ts);
 * - never lets fetch follow redirects itself: Node's fetch keeps a whole request body in memory unless `redirect`
 *   is "error" (undici #4058; measured here: a 1 GiB PUT peaks at ~1.1 GB RSS with "follow" or "manual", ~90 MB
 *   with "error"). Requests with a Blob body (LFS uploads) are never redirected: a redirect answering one fails as
 *   HUB_SERVER; the others use "manual" and redirects are followed here, with the token dropped when the origin
 *   changes (a caller that asks for `redirect: "manual"` gets the redirect itself: the Hub's own answer to a
 *   `resolve` names the commit, its storage host's does not);
 * - sends Blob bodies over node:http keep-alive connections (http-upload.ts: cheaper per request than fetch, which
 *   matters for 8 MiB multipart parts), unless a `fetch` is injected, which then sends everything;
 * - retries 429 (honouring Retry-After, else the reset time of the IETF `RateLimit` header the Hub sends), 5xx,
 *   dropped connections and timeouts with backoff, replaying Blob bodies, within a total budget per request
 *   (TRUECAST_HTTP_RETRY_BUDGET_MS): no wait or attempt runs past it, and a wait the server asks for that is longer
 *   than the policy's `maxRetryAfterMs` is not taken: the answer goes back for the caller to say when to retry;
 * - gives every attempt a deadline that covers the answer's body too (TRUECAST_HTTP_TIMEOUT_MS). An upload (a Blob
 *   body, whose time scales with the file) and a ranged read (`Range: bytes=a-b`, whose answer scales with the
 *   range) get an idle limit instead: they fail when no byte moved for that long, plus a ceiling of one timeout +
 *   size / MIN_TRANSFER_BYTES_PER_S, so a slow but moving 5 GB transfer finishes and a stalled one fails within
 *   one timeout;
 * - caps the body of every answer at MAX_JSON_RESPONSE_BYTES, whatever its Content-Length says, except answers
 *   to Range requests (their readers stop at the length they asked for);
 * - counts request body bytes as they are sent, for progress.
 */
import { TruecastError } from "../errors.js";
import {
  Deadline, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY_BUDGET_MS, formatMs, guardResponse, MAX_JSON_RESPONSE_BYTES,
  MIN_TRANSFER_BYTES_PER_S, type HttpTimeouts,
} from "../util/http-guard.js";
import { fetchUpload, httpUpload } from "./http-upload.js";
import { redirectTarget, TokenScope } from "./redirect-rules.js";
import { DEFAULT_RETRY, isRetryableStatus, retryDelayMs, serverWaitMs, type RetryPolicy } from "./retry.js";

/** What the official client is given instead of the token; replaced here, on the endpoint's origin only. */
export const CLIENT_TOKEN_PLACEHOLDER = "hf_truecast_token_is_added_by_hub_fetch";

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  /** e.g. "HTTP 503" or "ECONNRESET". */
  reason: string;
  method: string;
  /** Path of the request URL, without query (query strings of storage URLs can hold signatures). */
  path: string;
}

export interface HubFetchHooks {
  onRetry?: (e: RetryEvent) => void;
  /** Request body bytes handed to the socket; negative when a failed attempt's bytes are taken back. */
  onBodyBytes?: (delta: number) => void;
  /**
   * Every answer of an attempt, redirects included, before one is followed: the Hub's own answer to a `resolve`
   * names the commit and an LFS file's sha256 and size (`X-Linked-Etag`, `X-Linked-Size`) on its redirect.
   */
  onHop?: (res: Response, url: URL) => void;
}

export interface HubFetchParams {
  endpoint: string;
  /** Sent as a bearer token to the endpoint's origin only; empty or absent: no Authorization at all (anonymous reads). */
  token?: string;
  /** The underlying fetch (tests inject one); it then sends upload bodies too. Default: global fetch, and http-upload.ts for Blob bodies. */
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  /** Waits between attempts (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  hooks?: HubFetchHooks;
  /** Per-attempt deadline and per-request retry budget. Default: 60 s and 5 min (see util/http-guard.ts). */
  timeouts?: Partial<HttpTimeouts>;
  /**
   * While it names the size of a file being downloaded, a request gets the deadlines of a transfer (an idle limit,
   * and one timeout + size / MIN_TRANSFER_BYTES_PER_S in all) instead of one timeout for the whole answer.
   */
  transferBytes?: () => number | null;
}

/** A request that failed at the network level on every attempt; hub-errors.ts adds what was being done. */
export class HubNetworkError extends TruecastError {
  constructor(detail: string, cause: unknown) {
    super("HUB_NETWORK", detail, { cause });
  }
}

function isReplayable(body: RequestInit["body"]): boolean {
  return body === null || body === undefined || typeof body === "string" || body instanceof Blob ||
    body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof URLSearchParams;
}

/** An upload answered with a redirect: refused, whichever transport sent it (fetch with "error", or http-upload.ts). */
function redirectedUpload(url: URL, cause?: unknown): TruecastError {
  return new TruecastError("HUB_SERVER", `the upload to ${url.host} was redirected; truecast does not follow redirects of uploads (they would hold the whole file in memory)`, cause === undefined ? {} : { cause });
}

/** A short reason for a thrown fetch error: the system error code when there is one. */
export function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return e instanceof Error ? e.message : String(e);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Bytes a `Range: bytes=a-b` header asks for, or null when there is none or it is open-ended. */
export function rangeLength(range: string | null): number | null {
  const m = range?.match(/^bytes=(\d+)-(\d+)$/);
  if (!m) return null;
  const n = Number(m[2]) - Number(m[1]) + 1;
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export function createHubFetch(params: HubFetchParams): typeof fetch {
  const scope = new TokenScope(params.endpoint, params.token ?? "");
  const endpointOrigin = scope.origin;
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...params.retry };
  const base = params.fetch ?? globalThis.fetch;
  // Upload bodies go over node:http keep-alive connections (http-upload.ts); an injected fetch sees every request.
  const upload = params.fetch ? fetchUpload(params.fetch) : httpUpload;
  const hooks = params.hooks ?? {};

  /** One attempt: send, following redirects by hand, with Authorization set or stripped per origin. */
  async function send(url: URL, init: RequestInit, count: (n: number) => void): Promise<Response> {
    let method = (init.method ?? "GET").toUpperCase();
    let body = init.body ?? null;
    // Once a hop left the endpoint's origin, no later one carries the token (redirect-rules.ts).
    let left = false;
    for (let hop = 0; ; hop++) {
      const headers = new Headers(init.headers);
      left ||= url.origin !== endpointOrigin;
      const auth = scope.authorization(url, left);
      if (auth !== null) headers.set("Authorization", auth);
      else headers.delete("Authorization");
      const signal = init.signal ?? null;
      const res = body instanceof Blob
        ? await upload(url, { method, headers, body, signal, onBytes: count })
        : await base(url, { method, headers, body, signal, redirect: "manual" });
      hooks.onHop?.(res, url);
      const location = res.headers.get("location");
      if (res.status < 300 || res.status >= 400 || res.status === 304 || location === null) return res;
      if (init.redirect === "manual" && !(body instanceof Blob)) return res;
      await res.body?.cancel().catch(() => undefined);
      if (body instanceof Blob) throw redirectedUpload(url);
      const next = redirectTarget(url, location, hop);
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        body = null;
        headers.delete("Content-Type");
      }
      url = next;
    }
  }

  const timeoutMs = params.timeouts?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const budgetMs = params.timeouts?.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;

  const hubFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (input instanceof Request) throw new TypeError("hub fetch takes a URL and an init object, not a Request");
    const url = new URL(String(input));
    const method = (init.method ?? "GET").toUpperCase();
    const where = scope.where(url);
    const attempts = isReplayable(init.body) ? Math.max(1, policy.maxAttempts) : 1;
    const sleep = params.sleep ?? ((ms: number) => abortableSleep(ms, init.signal));
    // A transfer whose length scales with a file gets time in proportion, on top of the fixed limits.
    const transferSize = init.body instanceof Blob ? init.body.size : (rangeLength(new Headers(init.headers).get("range")) ?? params.transferBytes?.() ?? null);
    const scaledMs = transferSize === null ? 0 : Math.ceil((transferSize / MIN_TRANSFER_BYTES_PER_S) * 1000);
    const requestBudgetMs = budgetMs + scaledMs;
    const maxBytes = new Headers(init.headers).has("range") ? Infinity : MAX_JSON_RESPONSE_BYTES;
    const started = Date.now();
    const left = () => requestBudgetMs - (Date.now() - started);
    // A retry is made only when its wait and a whole attempt fit in what is left of the budget.
    const fits = (delayMs: number) => delayMs + timeoutMs + scaledMs <= left();
    for (let attempt = 1; ; attempt++) {
      const deadline = transferSize === null
        ? new Deadline(Math.max(1, Math.min(timeoutMs, left())))
        : new Deadline(Math.max(1, Math.min(timeoutMs + scaledMs, left())), timeoutMs);
      let sent = 0;
      const count = (n: number) => {
        sent += n;
        deadline.touch();
        hooks.onBodyBytes?.(n);
      };
      const takeBack = () => {
        if (sent > 0) hooks.onBodyBytes?.(-sent);
      };
      const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
      let res: Response;
      try {
        res = await send(url, { ...init, signal }, count);
      } catch (e) {
        deadline.dispose();
        if (init.signal?.aborted || e instanceof TruecastError) throw e;
        // The request body could not be read (a local file changed or vanished): not the network, no retry.
        const cause = (e as { cause?: unknown } | null)?.cause;
        if (cause instanceof TruecastError) throw cause;
        if (networkReason(e) === "unexpected redirect") throw redirectedUpload(url, e);
        takeBack();
        const reason = deadline.expired ? `a timeout (${deadline.describe()}; TRUECAST_HTTP_TIMEOUT_MS sets the limit)` : networkReason(e);
        const delayMs = retryDelayMs(policy, attempt, null);
        if (attempt >= attempts || !fits(delayMs)) {
          const within = attempt < attempts ? ` within ${formatMs(requestBudgetMs)} (TRUECAST_HTTP_RETRY_BUDGET_MS)` : "";
          throw new HubNetworkError(`${method} to ${where} failed with ${reason} ${attempt} time${attempt === 1 ? "" : "s"}${within}`, e);
        }
        hooks.onRetry?.({ attempt, delayMs, reason, method, path: url.pathname });
        await sleep(delayMs);
        continue;
      }
      if (isRetryableStatus(res.status) && attempt < attempts) {
        const asked = res.status === 429 || res.status === 503 ? serverWaitMs(res.headers) : null;
        const delayMs = retryDelayMs(policy, attempt, asked);
        // A wait that would leave no room for a whole attempt, or longer than the policy accepts from a server, is
        // not taken: the answer goes to the caller as it is (retrying before the server's time only earns more 429s).
        if (fits(delayMs) && (asked === null || asked <= policy.maxRetryAfterMs)) {
          deadline.dispose();
          takeBack();
          await res.body?.cancel().catch(() => undefined);
          hooks.onRetry?.({ attempt, delayMs, reason: `HTTP ${res.status}`, method, path: url.pathname });
          await sleep(delayMs);
          continue;
        }
      }
      const what = `${method} ${where}`;
      return guardResponse(res, {
        deadline,
        maxBytes,
        onTooLarge: (limit) => new TruecastError("HUB_SERVER", `the answer to ${what} is larger than ${limit / (1024 * 1024)} MiB, more than any Hub answer; check that ${endpointOrigin} is a Hugging Face Hub`),
        onTimeout: () => new TruecastError("HUB_NETWORK", `the answer to ${what} was cut off: ${deadline.describe()} (TRUECAST_HTTP_TIMEOUT_MS sets the limit); check the connection and run the same command again`),
        onBroken: (c) => new TruecastError("HUB_NETWORK", `the connection dropped while reading the answer to ${what} (${networkReason(c)}); run the same command again`, { cause: c }),
      });
    }
  };
  return hubFetch as typeof fetch;
}
