/**
 * The transport of bulk range reads: `GET` with `Range` over truecast's own HTTP/1.1 client (http1-conn.ts: one
 * fixed read buffer per kept-alive connection, body bytes copied once, straight into the caller's buffer; see
 * {@link RangeAnswer.fill}), so reading a GB allocates almost nothing. It keeps every rule
 * of the hub fetch (hub/hub-fetch.ts) for a ranged read:
 * - the token and redirect rules are hub/redirect-rules.ts, the hub fetch's own: the token goes to the endpoint's
 *   origin only and never after a hop left it; redirects (to the LFS storage host) are followed here, a few at most,
 *   only to http(s) URLs and never from https down to http;
 * - 429 (Retry-After, RateLimit), 408, 5xx and dropped connections are retried with the same policy and the same
 *   total budget per request (TRUECAST_HTTP_RETRY_BUDGET_MS, plus the time the range gets at the slowest rate);
 * - each attempt has one guard: an idle limit (TRUECAST_HTTP_TIMEOUT_MS without a byte), a ceiling of one timeout +
 *   range / MIN_TRANSFER_BYTES_PER_S that covers the body too, byte counting, and the caller's abort signal;
 * - failures are HUB_NETWORK / HUB_SERVER TruecastErrors with the same wording, naming no query string or token
 *   (a server's own text quoted in one, a status line, a header, a redirect's host, has the token taken out: a
 *   server can echo the Authorization it was sent, and an error line ends up in CI logs);
 * - an answer that is not valid HTTP/1.1 (http1-head.ts, http1-body.ts) is a HUB_SERVER error, not retried.
 * What the answer holds (status, Content-Range, length) is checked by hub-range.ts, as for the fetch path.
 */
import { TruecastError } from "../errors.js";
import { abortableSleep, HubNetworkError, type RetryEvent } from "../hub/hub-fetch.js";
import { redactToken, redirectTarget, TokenScope } from "../hub/redirect-rules.js";
import { DEFAULT_RETRY, isRetryableStatus, retryDelayMs, serverWaitMs, type RetryPolicy } from "../hub/retry.js";
import {
  Deadline, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY_BUDGET_MS, formatMs, MIN_TRANSFER_BYTES_PER_S, type HttpTimeouts,
} from "../util/http-guard.js";
import { Http1Pool, type Http1Answer } from "./http1-conn.js";
import { HttpProtocolError } from "./http1-head.js";
import type { RangeAnswer } from "./hub-range.js";

export interface RangeHttpParams {
  endpoint: string;
  /** Sent as a bearer token to the endpoint's origin only; empty: anonymous. */
  token: string;
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  timeouts?: Partial<HttpTimeouts>;
  /** Stops every request (Ctrl-C); a read in progress fails with the signal's reason. */
  signal?: AbortSignal;
  onRetry?: (e: RetryEvent) => void;
  /** Body bytes received. */
  onBytes?: (n: number) => void;
}

export interface RangeHttp {
  /** Bytes [start, end) of `url` (end exclusive): the final answer, its body not yet read. */
  open(url: string, start: number, end: number): Promise<RangeAnswer>;
  /** Closes the kept-alive connections. */
  close(): void;
}

/** The error a stopped read fails with: "interrupted by SIGINT" when the CLI's signal names one. */
export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof TruecastError) return r;
  const by = typeof r === "string" && r.startsWith("SIG") ? ` by ${r}` : "";
  return new TruecastError("INTERNAL", `interrupted${by}; the remote read was stopped`);
}

/**
 * `e` with the token taken out of its message (and without its cause then, whose message would still hold it): the
 * message may quote what a server sent, and a server can echo the Authorization header back.
 */
function withoutToken(e: TruecastError, token: string): TruecastError {
  const message = redactToken(e.message, token);
  return message === e.message ? e : new TruecastError(e.code, message);
}

/** An answer that is not valid HTTP/1.1: not retried (a server that breaks the protocol is not trusted). */
function protocolError(where: string, e: HttpProtocolError, token: string): TruecastError {
  return withoutToken(new TruecastError("HUB_SERVER", `the answer to GET ${where} is not valid HTTP/1.1: ${e.message}; the bytes are not used (report it if it persists)`, { cause: e }), token);
}

/** A system error's code ("ECONNRESET"), else its message. */
function reasonOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return e instanceof Error ? e.message : String(e);
}

/**
 * The body of an answer as a {@link RangeAnswer}: the connection fills the caller's buffer itself (http1-conn.ts);
 * this adds the attempt's clock (touched while the network is waited for, stopped at the end) and turns a broken
 * connection into the error to throw with `fail` (a timeout or abort named as such). Bytes placed before a break are
 * returned first.
 */
function bodyOf(answer: Http1Answer, deadline: Deadline, signal: AbortSignal, fail: (cause: unknown) => Error): RangeAnswer {
  let error: Error | null = null;
  if (answer.ended) deadline.dispose();
  return {
    status: answer.status,
    headers: answer.headers,
    async fill(dest, offset) {
      if (error !== null) throw error;
      if (signal.aborted && !answer.ended) throw (error = fail(signal.reason));
      if (offset >= dest.byteLength) return 0;
      // The idle clock runs while the network is waited for, not while the reader was busy with the last buffer.
      deadline.touch();
      try {
        const n = await answer.fill(dest, offset);
        if (answer.ended) deadline.dispose();
        return n;
      } catch (e) {
        deadline.dispose();
        throw (error = fail(e));
      }
    },
    close() {
      deadline.dispose();
      answer.close();
    },
  };
}

export function createRangeHttp(p: RangeHttpParams): RangeHttp {
  const scope = new TokenScope(p.endpoint, p.token);
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...p.retry };
  const timeoutMs = p.timeouts?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const budgetMs = p.timeouts?.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
  const pool = new Http1Pool();
  const sleep = p.sleep ?? ((ms: number) => abortableSleep(ms, p.signal));
  const onBytes = p.onBytes ?? (() => undefined);
  const pause = (ms: number) => sleep(ms).catch((e: unknown) => {
    throw p.signal?.aborted ? abortError(p.signal) : e;
  });

  /** One request, its answer's head; rejects with the network error. */
  function request(url: URL, left: boolean, range: string, signal: AbortSignal, onBody: (n: number) => void): Promise<Http1Answer> {
    const headers: Record<string, string> = { Range: range, "Accept-Encoding": "identity" };
    const auth = scope.authorization(url, left);
    if (auth !== null) headers.Authorization = auth;
    return pool.request({ url, headers, signal, onBody });
  }

  /** One attempt: the request and its redirects, with Authorization set or left out per origin. */
  async function send(first: URL, range: string, signal: AbortSignal, onBody: (n: number) => void): Promise<{ res: Http1Answer; url: URL }> {
    let url = first;
    let left = false;
    for (let hop = 0; ; hop++) {
      left ||= url.origin !== scope.origin;
      const res = await request(url, left, range, signal, onBody);
      const location = res.headers.get("location");
      const status = res.status;
      if (status < 300 || status >= 400 || status === 304 || location === null) return { res, url };
      res.close();
      const next = redirectTarget(url, location, hop);
      url = next;
    }
  }

  async function open(href: string, start: number, end: number): Promise<RangeAnswer> {
    const url = new URL(href);
    const where = scope.where(url);
    const range = `bytes=${start}-${end - 1}`;
    const scaledMs = Math.ceil(((end - start) / MIN_TRANSFER_BYTES_PER_S) * 1000);
    const requestBudgetMs = budgetMs + scaledMs;
    const started = Date.now();
    const left = () => requestBudgetMs - (Date.now() - started);
    const fits = (delayMs: number) => delayMs + timeoutMs + scaledMs <= left();
    const attempts = Math.max(1, policy.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      if (p.signal?.aborted) throw abortError(p.signal);
      const deadline = new Deadline(Math.max(1, Math.min(timeoutMs + scaledMs, left())), timeoutMs);
      const signal = p.signal ? AbortSignal.any([p.signal, deadline.signal]) : deadline.signal;
      let got: { res: Http1Answer; url: URL };
      try {
        got = await send(url, range, signal, (n) => {
          deadline.touch();
          onBytes(n);
        });
      } catch (e) {
        deadline.dispose();
        if (p.signal?.aborted) throw abortError(p.signal);
        if (e instanceof TruecastError) throw withoutToken(e, p.token);
        if (e instanceof HttpProtocolError) throw protocolError(where, e, p.token);
        const reason = deadline.expired ? `a timeout (${deadline.describe()}; TRUECAST_HTTP_TIMEOUT_MS sets the limit)` : reasonOf(e);
        const delayMs = retryDelayMs(policy, attempt, null);
        if (attempt >= attempts || !fits(delayMs)) {
          const within = attempt < attempts ? ` within ${formatMs(requestBudgetMs)} (TRUECAST_HTTP_RETRY_BUDGET_MS)` : "";
          throw new HubNetworkError(`GET to ${where} failed with ${reason} ${attempt} time${attempt === 1 ? "" : "s"}${within}`, e);
        }
        p.onRetry?.({ attempt, delayMs, reason, method: "GET", path: url.pathname });
        await pause(delayMs);
        continue;
      }
      const { res } = got;
      const { status, headers } = res;
      if (isRetryableStatus(status) && attempt < attempts) {
        const asked = status === 429 || status === 503 ? serverWaitMs(headers) : null;
        const delayMs = retryDelayMs(policy, attempt, asked);
        if (fits(delayMs) && (asked === null || asked <= policy.maxRetryAfterMs)) {
          deadline.dispose();
          res.close();
          p.onRetry?.({ attempt, delayMs, reason: `HTTP ${status}`, method: "GET", path: url.pathname });
          await pause(delayMs);
          continue;
        }
      }
      const what = `GET ${where}`;
      return bodyOf(res, deadline, signal, (cause: unknown) => {
        if (p.signal?.aborted) return abortError(p.signal);
        if (cause instanceof HttpProtocolError) return protocolError(where, cause, p.token);
        if (deadline.expired) {
          return new TruecastError("HUB_NETWORK", `the answer to ${what} was cut off: ${deadline.describe()} (TRUECAST_HTTP_TIMEOUT_MS sets the limit); check the connection and run the same command again`);
        }
        return new TruecastError("HUB_NETWORK", `the connection dropped while reading the answer to ${what} (${reasonOf(cause)}); run the same command again`, { cause });
      });
    }
  }

  return {
    open,
    close: () => pool.close(),
  };
}
