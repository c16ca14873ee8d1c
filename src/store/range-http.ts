/**
 * The transport of bulk range reads: `GET` with `Range` over `node:http`/`node:https` on a keep-alive agent, the
 * body read as Node stream chunks copied straight into the caller's buffer (see {@link RangeAnswer.fill}): one
 * promise per filled buffer instead of three web streams and a promise per 64 KB network chunk. It keeps every rule
 * of the hub fetch (hub/hub-fetch.ts) for a ranged read:
 * - the token and redirect rules are hub/redirect-rules.ts, the hub fetch's own: the token goes to the endpoint's
 *   origin only and never after a hop left it; redirects (to the LFS storage host) are followed here, a few at most,
 *   only to http(s) URLs and never from https down to http;
 * - 429 (Retry-After, RateLimit), 408, 5xx and dropped connections are retried with the same policy and the same
 *   total budget per request (TRUECAST_HTTP_RETRY_BUDGET_MS, plus the time the range gets at the slowest rate);
 * - each attempt has one guard: an idle limit (TRUECAST_HTTP_TIMEOUT_MS without a byte), a ceiling of one timeout +
 *   range / MIN_TRANSFER_BYTES_PER_S that covers the body too, byte counting, and the caller's abort signal;
 * - failures are HUB_NETWORK / HUB_SERVER TruecastErrors with the same wording, naming no query string or token.
 * What the answer holds (status, Content-Range, length) is checked by hub-range.ts, as for the fetch path.
 */
import * as http from "node:http";
import * as https from "node:https";
import { TruecastError } from "../errors.js";
import { abortableSleep, HubNetworkError, type RetryEvent } from "../hub/hub-fetch.js";
import { redirectTarget, TokenScope } from "../hub/redirect-rules.js";
import { DEFAULT_RETRY, isRetryableStatus, retryDelayMs, serverWaitMs, type RetryPolicy } from "../hub/retry.js";
import {
  Deadline, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY_BUDGET_MS, formatMs, MIN_TRANSFER_BYTES_PER_S, type HttpTimeouts,
} from "../util/http-guard.js";
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

function toHeaders(h: http.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
  }
  return out;
}

/** The error a stopped read fails with: "interrupted by SIGINT" when the CLI's signal names one. */
export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof TruecastError) return r;
  const by = typeof r === "string" && r.startsWith("SIG") ? ` by ${r}` : "";
  return new TruecastError("INTERNAL", `interrupted${by}; the remote read was stopped`);
}

/** A system error's code ("ECONNRESET"), else its message. */
function reasonOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return e instanceof Error ? e.message : String(e);
}

/**
 * The body of an answer as a {@link RangeAnswer}: 'data' chunks are copied into the buffer being filled, the rest of
 * a chunk is kept (and the socket paused) until the next fill. `fail` turns a broken connection into the error to
 * throw (a timeout or abort named as such); bytes placed before the break are returned first.
 */
function bodyOf(
  res: http.IncomingMessage, headers: Headers, deadline: Deadline, signal: AbortSignal, fail: (cause: unknown) => Error, onBytes: (n: number) => void,
): RangeAnswer {
  const queue: Buffer[] = [];
  let ended = false;
  let error: Error | null = null;
  let want: { dest: Uint8Array; at: number; from: number; resolve: (n: number) => void; reject: (e: Error) => void } | null = null;
  const settle = () => {
    if (!want) return;
    const w = want;
    while (queue.length > 0 && w.at < w.dest.byteLength) {
      const b = queue[0] as Buffer;
      const n = Math.min(b.byteLength, w.dest.byteLength - w.at);
      w.dest.set(n === b.byteLength ? b : b.subarray(0, n), w.at);
      w.at += n;
      if (n === b.byteLength) queue.shift();
      else queue[0] = b.subarray(n);
    }
    if (w.at === w.dest.byteLength || ended || (error && w.at > w.from)) {
      want = null;
      res.pause();
      w.resolve(w.at - w.from);
    } else if (error) {
      want = null;
      w.reject(error);
    }
  };
  res.on("data", (b: Buffer) => {
    deadline.touch();
    onBytes(b.byteLength);
    queue.push(b);
    if (want) settle();
    if (!want) res.pause();
  });
  res.on("end", () => {
    ended = true;
    deadline.dispose();
    settle();
  });
  const broken = (e: unknown) => {
    if (ended || error) return;
    deadline.dispose();
    error = fail(e);
    settle();
  };
  res.on("error", broken);
  res.on("close", () => broken(new Error("the connection closed before the end of the answer")));
  // Stopped (Ctrl-C) or out of time: bytes already received are not handed over; the read fails now.
  signal.addEventListener("abort", () => {
    queue.length = 0;
    broken(signal.reason);
  }, { once: true });
  res.pause();
  return {
    status: res.statusCode ?? 0,
    headers,
    fill(dest, offset) {
      if (signal.aborted && !ended) return Promise.reject(error ?? fail(signal.reason));
      if (offset >= dest.byteLength) return Promise.resolve(0);
      // The idle clock runs while the network is waited for, not while the reader was busy with the last buffer.
      deadline.touch();
      return new Promise<number>((resolve, reject) => {
        want = { dest, at: offset, from: offset, resolve, reject };
        settle();
        if (want) res.resume();
      });
    },
    close() {
      deadline.dispose();
      if (!ended) res.destroy();
    },
  };
}

export function createRangeHttp(p: RangeHttpParams): RangeHttp {
  const scope = new TokenScope(p.endpoint, p.token);
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...p.retry };
  const timeoutMs = p.timeouts?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const budgetMs = p.timeouts?.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
  const agents = { "http:": new http.Agent({ keepAlive: true }), "https:": new https.Agent({ keepAlive: true }) };
  const sleep = p.sleep ?? ((ms: number) => abortableSleep(ms, p.signal));
  const onBytes = p.onBytes ?? (() => undefined);
  const pause = (ms: number) => sleep(ms).catch((e: unknown) => {
    throw p.signal?.aborted ? abortError(p.signal) : e;
  });

  /** One request, its answer's head; rejects with the network error. */
  function request(url: URL, left: boolean, range: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = { Range: range, "Accept-Encoding": "identity" };
    const auth = scope.authorization(url, left);
    if (auth !== null) headers.Authorization = auth;
    const mod = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method: "GET", headers, agent: agents[url.protocol as "http:" | "https:"], signal });
      req.on("response", resolve);
      req.on("error", reject);
      req.end();
    });
  }

  /** One attempt: the request and its redirects, with Authorization set or left out per origin. */
  async function send(first: URL, range: string, signal: AbortSignal): Promise<{ res: http.IncomingMessage; url: URL }> {
    let url = first;
    let left = false;
    for (let hop = 0; ; hop++) {
      left ||= url.origin !== scope.origin;
      const res = await request(url, left, range, signal);
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (status < 300 || status >= 400 || status === 304 || location === undefined) return { res, url };
      res.destroy();
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
      let got: { res: http.IncomingMessage; url: URL };
      try {
        got = await send(url, range, signal);
      } catch (e) {
        deadline.dispose();
        if (p.signal?.aborted) throw abortError(p.signal);
        if (e instanceof TruecastError) throw e;
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
      const status = res.statusCode ?? 0;
      const headers = toHeaders(res.headers);
      if (isRetryableStatus(status) && attempt < attempts) {
        const asked = status === 429 || status === 503 ? serverWaitMs(headers) : null;
        const delayMs = retryDelayMs(policy, attempt, asked);
        if (fits(delayMs) && (asked === null || asked <= policy.maxRetryAfterMs)) {
          deadline.dispose();
          res.destroy();
          p.onRetry?.({ attempt, delayMs, reason: `HTTP ${status}`, method: "GET", path: url.pathname });
          await pause(delayMs);
          continue;
        }
      }
      const what = `GET ${where}`;
      return bodyOf(res, headers, deadline, signal, (cause) => {
        if (p.signal?.aborted) return abortError(p.signal);
        if (deadline.expired) {
          return new TruecastError("HUB_NETWORK", `the answer to ${what} was cut off: ${deadline.describe()} (TRUECAST_HTTP_TIMEOUT_MS sets the limit); check the connection and run the same command again`);
        }
        return new TruecastError("HUB_NETWORK", `the connection dropped while reading the answer to ${what} (${reasonOf(cause)}); run the same command again`, { cause });
      }, onBytes);
    }
  }

  return {
    open,
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}
