/**
 * Bounds on one HTTP exchange with a server truecast does not control (the Hub, its storage hosts): a deadline that
 * covers the answer's body too (a header timeout alone lets a server trickle one byte at a time for ever), an idle
 * watchdog for transfers whose length scales with a file, and a cap on the bytes of an answer that is read whole.
 * Used by the Hub client (hub/) and the base-model download (sources/), so it sits below both.
 */
import { TruecastError } from "../errors.js";

/** Total time one request may take, answer body included, unless TRUECAST_HTTP_TIMEOUT_MS says otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Total time one request may take across all its retries and waits (TRUECAST_HTTP_RETRY_BUDGET_MS). */
export const DEFAULT_RETRY_BUDGET_MS = 300_000;
/**
 * Largest API answer read whole (JSON): the biggest real ones (a tree page of 1000 entries with `expand`) are a few
 * hundred KB; 16 MiB leaves room for any honest answer and keeps a hostile one from filling the heap.
 */
export const MAX_JSON_RESPONSE_BYTES = 16 * 1024 * 1024;
/**
 * Slowest average rate an upload or download whose size scales with a file is allowed (on top of one request
 * timeout), so a transfer kept "alive" one byte at a time still ends: 5 GB at this rate is about 5.8 hours.
 */
export const MIN_TRANSFER_BYTES_PER_S = 256 * 1024;

export interface HttpTimeouts {
  /** Deadline of one attempt (and the idle limit of a transfer that scales with a file). */
  requestTimeoutMs: number;
  /** Deadline of one request over all its attempts and the waits between them. */
  retryBudgetMs: number;
}

function positiveMs(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return dflt;
  const v = Number(raw.trim());
  if (!Number.isSafeInteger(v) || v <= 0) throw new TruecastError("USAGE", `${name} must be a positive whole number of milliseconds, not ${JSON.stringify(raw)}`);
  return v;
}

/** Timeouts from TRUECAST_HTTP_TIMEOUT_MS and TRUECAST_HTTP_RETRY_BUDGET_MS; throws USAGE on a malformed value. */
export function httpTimeouts(env: NodeJS.ProcessEnv = process.env): HttpTimeouts {
  return {
    requestTimeoutMs: positiveMs(env, "TRUECAST_HTTP_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT_MS),
    retryBudgetMs: positiveMs(env, "TRUECAST_HTTP_RETRY_BUDGET_MS", DEFAULT_RETRY_BUDGET_MS),
  };
}

/** "1.5 s", "2 min": a duration for a message. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 6000) / 10} min`;
}

/**
 * The clock of one attempt: `signal` aborts when the total time is up, or when `idleMs` pass without a call to
 * `touch()` (when an idle limit is set). Timers are unref'd: they never keep the process alive.
 */
export class Deadline {
  readonly #ctl = new AbortController();
  readonly #total: NodeJS.Timeout;
  #idle: NodeJS.Timeout | null = null;
  /** Why it fired ("total" or "idle"), or null while it has not. */
  expired: "total" | "idle" | null = null;

  constructor(readonly totalMs: number, readonly idleMs: number | null = null) {
    this.#total = setTimeout(() => this.#fire("total"), totalMs);
    this.#total.unref();
    this.touch();
  }

  get signal(): AbortSignal {
    return this.#ctl.signal;
  }

  /** Progress was made: the idle limit starts again. */
  touch(): void {
    if (this.idleMs === null || this.expired) return;
    if (this.#idle) this.#idle.refresh();
    else {
      this.#idle = setTimeout(() => this.#fire("idle"), this.idleMs);
      this.#idle.unref();
    }
  }

  #fire(why: "total" | "idle"): void {
    if (this.expired) return;
    this.expired = why;
    this.dispose();
    this.#ctl.abort(new DOMException(`no progress within the ${why === "idle" ? "idle" : "total"} limit`, "TimeoutError"));
  }

  /** The exchange is over: stop the clocks. */
  dispose(): void {
    clearTimeout(this.#total);
    if (this.#idle) clearTimeout(this.#idle);
  }

  /** A one-line account of why the attempt was stopped, e.g. "no answer within 60 s". */
  describe(): string {
    return this.expired === "idle" ? `no progress for ${formatMs(this.idleMs ?? 0)}` : `not finished within ${formatMs(this.totalMs)}`;
  }
}

/** Statuses whose responses cannot be rebuilt with a body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export interface GuardBodyParams {
  /** Stopped when the body has been read (or cancelled); its expiry makes the read fail with `onTimeout`'s error. */
  deadline: Deadline;
  /** Bytes the body may have; past it the read fails with `onTooLarge`'s error. Infinity: no cap. */
  maxBytes: number;
  onTooLarge: (limit: number) => Error;
  onTimeout: () => Error;
  /** A read failed for another reason (the connection dropped). */
  onBroken: (cause: unknown) => Error;
}

/**
 * The same response with a body that is read through the guard: it counts bytes (touching the deadline's idle
 * clock) and fails with a clear error past the cap or the deadline. A Content-Length over the cap fails at once.
 */
export function guardResponse(res: Response, p: GuardBodyParams): Response {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > p.maxBytes) {
    p.deadline.dispose();
    void res.body?.cancel().catch(() => undefined);
    throw p.onTooLarge(p.maxBytes);
  }
  if (res.body === null || NULL_BODY_STATUSES.has(res.status)) {
    p.deadline.dispose();
    return res;
  }
  const reader = res.body.getReader();
  let seen = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (e) {
          p.deadline.dispose();
          ctl.error(p.deadline.expired ? p.onTimeout() : p.onBroken(e));
          return;
        }
        if (r.done) {
          p.deadline.dispose();
          return ctl.close();
        }
        seen += r.value.byteLength;
        p.deadline.touch();
        if (seen > p.maxBytes) {
          p.deadline.dispose();
          void reader.cancel().catch(() => undefined);
          ctl.error(p.onTooLarge(p.maxBytes));
          return;
        }
        ctl.enqueue(r.value);
      },
      cancel(reason) {
        p.deadline.dispose();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperty(out, "url", { value: res.url });
  Object.defineProperty(out, "redirected", { value: res.redirected });
  return out;
}
