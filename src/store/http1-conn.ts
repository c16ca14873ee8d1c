/**
 * truecast's own HTTP/1.1 client for bulk range reads: one `GET` at a time per connection, over `net.connect` /
 * `tls.connect` with the `onread` option, so each connection reads into one fixed buffer and body bytes are copied
 * once, from it straight into the caller's buffer ({@link Http1Answer.fill}). node:http allocated every body byte
 * twice on the main thread (the socket's 64 KiB read buffer, then llhttp's copy of the chunk): about 2 GB of
 * short-lived buffers per GB read, freed only by major GCs, which made most of the conversion's peak RSS.
 *
 * Rules it keeps, as node:http did: TLS with SNI (the host name, never an IP), Node's default CAs (and
 * NODE_EXTRA_CA_CERTS) and the host name checked against the certificate; no proxy (node:http used none either);
 * keep-alive reuse of a connection whose answer was read to its end. Rules it adds: the answer is parsed strictly
 * (http1-head.ts, http1-body.ts), interim 1xx answers are skipped (a few at most), `Connection: close` and HTTP/1.0
 * are honoured, a server that sends bytes past the end of an answer is not trusted again (its connection is
 * closed, those bytes never read as anything), and a kept-alive connection left idle is closed after
 * {@link IDLE_CONNECTION_MS} (sooner when the server's `Keep-Alive: timeout=N` says it will close first), so a
 * long-lived process holds no socket it no longer uses; an idle connection never keeps the process alive.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { BodyDecoder } from "./http1-body.js";
import { headEnd, HttpProtocolError, MAX_HEAD_BYTES, parseHead, type AnswerHead } from "./http1-head.js";

/** The fixed read buffer of one connection (Node's own socket reads are 64 KiB). */
export const READ_BUFFER_BYTES = 64 * 1024;
/** Interim (1xx) answers skipped before the final one; more is a server playing games. */
export const MAX_INTERIM_ANSWERS = 8;
/** Kept-alive connections per origin (the range reads in flight at once are a handful). */
export const MAX_IDLE_PER_ORIGIN = 8;
/**
 * How long a kept-alive connection may wait for its next request before it is closed: range reads of one run follow
 * each other closely, and a connection idle longer is as cheap to open again (undici keeps one 4 s, node:http 5 s).
 */
export const IDLE_CONNECTION_MS = 4000;
/** A server's `Keep-Alive: timeout=N` is trusted minus this much, so a request never races the server's own close. */
const KEEP_ALIVE_MARGIN_MS = 1000;

/**
 * How long the connection that carried an answer with `headers` may be kept idle: {@link IDLE_CONNECTION_MS}, or
 * less when the server's `Keep-Alive` header says it closes sooner (0: not at all).
 */
export function idleLimitMs(headers: Headers, idleMs: number): number {
  const m = /(?:^|,)\s*timeout\s*=\s*(\d{1,9})\s*(?:,|$)/i.exec(headers.get("keep-alive") ?? "");
  return m ? Math.max(0, Math.min(idleMs, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS)) : idleMs;
}

/** An answer, its body read on demand. */
export interface Http1Answer {
  status: number;
  headers: Headers;
  /**
   * Copies the body's next bytes into `dest` from `offset` until it is full or the body ends; resolves with the
   * bytes placed (0: the body has ended). A break resolves with the bytes placed before it, then rejects.
   */
  fill(dest: Uint8Array, offset: number): Promise<number>;
  /** The body has been read to its end. */
  readonly ended: boolean;
  /** The rest of the body is not wanted: the connection is closed unless the answer was complete. */
  close(): void;
}

export interface Http1Request {
  url: URL;
  /** Header fields besides Host and Connection. */
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Body bytes placed in a caller's buffer. */
  onBody?: (n: number) => void;
}

interface Want {
  dest: Uint8Array;
  at: number;
  from: number;
  resolve: (n: number) => void;
  reject: (e: Error) => void;
}

/** One request and its answer on a connection. */
class Exchange implements Http1Answer {
  status = 0;
  headers: Headers = new Headers();
  phase: "head" | "body" | "done" = "head";
  head: AnswerHead | null = null;
  decoder: BodyDecoder | null = null;
  want: Want | null = null;
  error: Error | null = null;
  headBytes: Buffer | null = null;
  interim = 0;
  /** Bytes received before the connection broke, still to hand over (a copy: the connection's buffers are gone). */
  rest: Buffer | null = null;
  restAt = 0;
  onHead: { resolve: (a: Http1Answer) => void; reject: (e: Error) => void } | null = null;
  readonly #abort: () => void;

  constructor(readonly conn: Connection, readonly req: Http1Request) {
    this.#abort = () => conn.abort(this, req.signal.reason);
    req.signal.addEventListener("abort", this.#abort, { once: true });
  }

  get ended(): boolean {
    return this.phase === "done";
  }

  fill(dest: Uint8Array, offset: number): Promise<number> {
    if (offset >= dest.byteLength) return Promise.resolve(0);
    return new Promise<number>((resolve, reject) => {
      this.want = { dest, at: offset, from: offset, resolve, reject };
      if (this.conn.current === this) return this.conn.pump(this);
      // Over (ended or broken): what was received before the break, then the error.
      if (this.rest !== null && this.error !== null) this.restAt = feedRest(this);
      this.settle(this.rest === null || this.restAt >= this.rest.byteLength);
    });
  }

  close(): void {
    this.conn.drop(this);
  }

  /** Resolves or rejects the fill in progress when it is full, the body ended, or the connection broke. */
  settle(restEmpty: boolean): void {
    const w = this.want;
    if (w === null) return;
    if (w.at === w.dest.byteLength || this.phase === "done" || (this.error && w.at > w.from)) {
      this.want = null;
      w.resolve(w.at - w.from);
    } else if (this.error && restEmpty) {
      this.want = null;
      w.reject(this.error);
    }
  }

  /** The exchange is over (ended or broken): the caller's signal no longer concerns it. */
  detach(): void {
    this.req.signal.removeEventListener("abort", this.#abort);
  }
}

/**
 * Parses and decodes `src[at, end)` for `x`: the head (interim answers skipped), then body bytes into the fill in
 * progress. Returns the index of the first byte not used: the rest waits for a fill, or lies past the answer.
 */
function feed(x: Exchange, src: Buffer, at: number, end: number): number {
  while (at < end) {
    if (x.phase === "head") at = readHead(x, src, at, end);
    else if (x.phase === "body") {
      const w = x.want;
      const d = x.decoder;
      if (w === null || d === null) return at;
      at = d.decode(src, at, end, w.dest, w.at);
      w.at += d.placed;
      if (d.placed > 0) x.req.onBody?.(d.placed);
      if (d.done) x.phase = "done";
      x.settle(false);
    } else return at;
  }
  return at;
}

function readHead(x: Exchange, src: Buffer, at: number, end: number): number {
  const had = x.headBytes?.byteLength ?? 0;
  const bytes = had === 0 ? src.subarray(at, end) : Buffer.concat([x.headBytes as Buffer, src.subarray(at, end)]);
  const i = headEnd(bytes, had - 3);
  if (i < 0 || i > MAX_HEAD_BYTES) {
    if (bytes.byteLength > MAX_HEAD_BYTES) throw new HttpProtocolError(`the answer's head is over ${MAX_HEAD_BYTES / 1024} KiB`);
    x.headBytes = Buffer.from(bytes);
    return end;
  }
  x.headBytes = null;
  const head = parseHead(bytes.toString("latin1", 0, i));
  const used = at + (i + 4 - had);
  if (head.status < 200) {
    if (head.status === 101) throw new HttpProtocolError("the server switched protocols (HTTP 101), which truecast did not ask for");
    if (++x.interim > MAX_INTERIM_ANSWERS) throw new HttpProtocolError(`the server sent over ${MAX_INTERIM_ANSWERS} interim (1xx) answers`);
    return used;
  }
  x.head = head;
  x.status = head.status;
  x.headers = head.headers;
  x.decoder = new BodyDecoder(head.framing);
  x.phase = x.decoder.done ? "done" : "body";
  const h = x.onHead;
  x.onHead = null;
  h?.resolve(x);
  return used;
}

/** One connection: a socket reading into a fixed buffer, carrying one exchange at a time. */
class Connection {
  readonly socket: net.Socket;
  readonly #buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** Bytes read while nobody wanted them (at most one read: the socket is paused then). */
  #spill: Buffer | null = null;
  #spillAt = 0;
  #spillEnd = 0;
  #eof = false;
  current: Exchange | null = null;
  dead = false;
  /** Closes the connection once it has been idle too long (unref'd: it never keeps the process alive). */
  #idle: NodeJS.Timeout | null = null;

  constructor(readonly origin: string, url: URL, readonly pool: Http1Pool) {
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const https = url.protocol === "https:";
    const port = Number(url.port) || (https ? 443 : 80);
    const onread = { buffer: this.#buf, callback: (n: number) => this.#onRead(n) };
    // SNI and the certificate's name check use the host name (never an IP), as node:https does.
    this.socket = https
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 && { servername: host }), onread } as tls.ConnectionOptions)
      : net.connect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 1000);
    this.socket.on("error", (e) => this.#broken(e));
    this.socket.on("end", () => {
      this.#eof = true;
      const x = this.current;
      if (x) this.#eofOf(x);
      else this.destroy();
    });
    this.socket.on("close", () => this.#broken(new Error("the connection closed")));
  }

  request(req: Http1Request): Promise<Http1Answer> {
    const x = new Exchange(this, req);
    this.current = x;
    this.#stopIdle();
    this.socket.ref();
    const p = new Promise<Http1Answer>((resolve, reject) => (x.onHead = { resolve, reject }));
    if (req.signal.aborted) this.abort(x, req.signal.reason);
    else {
      let head = `GET ${req.url.pathname}${req.url.search} HTTP/1.1\r\nHost: ${req.url.host}\r\n`;
      for (const [k, v] of Object.entries({ ...req.headers, Connection: "keep-alive" })) {
        if (/[\r\n\0]/.test(v)) {
          this.#fail(x, new Error(`the request header ${k} holds a line break`));
          return p;
        }
        head += `${k}: ${v}\r\n`;
      }
      this.socket.write(`${head}\r\n`, "latin1");
      this.socket.resume();
    }
    return p;
  }

  /** A fill was asked: bytes kept from an earlier read first, then the socket is read again. */
  pump(x: Exchange): void {
    try {
      if (this.#spill !== null && this.#spillAt < this.#spillEnd) this.#spillAt = feed(x, this.#spill, this.#spillAt, this.#spillEnd);
    } catch (e) {
      return this.#fail(x, e as Error);
    }
    const empty = this.#spillAt >= this.#spillEnd;
    if (x.phase === "done") return this.#ended(x, !empty);
    if (empty && this.#eof) return this.#eofOf(x);
    x.settle(empty);
    if (x.want !== null && empty) this.socket.resume();
  }

  abort(x: Exchange, reason: unknown): void {
    if (this.current !== x) return;
    this.#spillAt = this.#spillEnd; // stopped: bytes already received are not handed over
    this.#fail(x, reason instanceof Error ? reason : new Error(String(reason)));
  }

  drop(x: Exchange): void {
    if (this.current === x) this.#fail(x, new Error("the answer was not read to its end"));
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.#stopIdle();
    this.pool.forget(this);
    this.socket.destroy();
  }

  #onRead(n: number): boolean {
    const x = this.current;
    if (x === null || n <= 0) {
      // Bytes nobody asked for (between answers): the server is not trusted again.
      if (n > 0) this.destroy();
      return false;
    }
    let at: number;
    try {
      at = feed(x, this.#buf, 0, n);
    } catch (e) {
      this.#fail(x, e as Error);
      return false;
    }
    if (x.phase === "done") {
      this.#ended(x, at < n);
      return !this.dead;
    }
    if (at < n) {
      this.#spill ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
      this.#spillEnd = this.#buf.copy(this.#spill, 0, at, n);
      this.#spillAt = 0;
      return false;
    }
    return x.phase === "head" || x.want !== null;
  }

  /** The connection reached its end while `x` was on it: a body that runs until then is complete, else broken. */
  #eofOf(x: Exchange): void {
    if (this.#spillAt < this.#spillEnd) return; // what came before is read first
    if (x.phase === "body" && x.decoder?.eof()) {
      x.phase = "done";
      return this.#ended(x, false);
    }
    const d = x.decoder;
    const where = d === null ? " before an answer" : d.framing.kind === "length" ? ` after ${d.total} of ${d.framing.length} bytes` : ` after ${d.total} bytes`;
    this.#fail(x, new Error(`the server closed the connection${where}`));
  }

  /** `x`'s answer was read to its end; `extra`: the server sent bytes past it. */
  #ended(x: Exchange, extra: boolean): void {
    x.detach();
    x.settle(true);
    this.current = null;
    this.#spillAt = this.#spillEnd = 0;
    const keepMs = x.head === null ? 0 : idleLimitMs(x.head.headers, this.pool.idleMs);
    if (extra || !x.head?.keepAlive || keepMs <= 0 || this.#eof || this.dead) return this.destroy();
    this.socket.unref();
    this.socket.resume();
    this.#idle = setTimeout(() => this.destroy(), keepMs);
    this.#idle.unref();
    this.pool.release(this);
  }

  #stopIdle(): void {
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = null;
  }

  #broken(e: Error): void {
    const x = this.current;
    if (x) this.#fail(x, e);
    else this.destroy();
  }

  /** `x` failed: its head or fill waiter gets `e` (after the bytes received before it); the connection is closed. */
  #fail(x: Exchange, e: Error): void {
    if (this.current === x) this.current = null;
    if (x.phase !== "done" && x.error === null) {
      x.error = e;
      x.detach();
      const h = x.onHead;
      x.onHead = null;
      h?.reject(e);
      if (this.#spill !== null && this.#spillAt < this.#spillEnd) x.rest = Buffer.from(this.#spill.subarray(this.#spillAt, this.#spillEnd));
      this.#spillAt = this.#spillEnd = 0;
      if (x.want !== null && x.rest !== null) x.restAt = feedRest(x);
      x.settle(x.rest === null || x.restAt >= x.rest.byteLength);
    }
    this.destroy();
  }
}

/** Decodes what a broken exchange kept into its fill in progress; a malformed rest is dropped. */
function feedRest(x: Exchange): number {
  const rest = x.rest as Buffer;
  try {
    return feed(x, rest, x.restAt, rest.byteLength);
  } catch {
    return rest.byteLength;
  }
}

export interface Http1PoolOptions {
  /** How long a kept-alive connection may stay idle before it is closed. Default {@link IDLE_CONNECTION_MS}. */
  idleMs?: number;
}

/** Kept-alive connections by origin; a request takes an idle one or opens a new one. */
export class Http1Pool {
  readonly #idle = new Map<string, Connection[]>();
  readonly #all = new Set<Connection>();
  readonly idleMs: number;

  constructor(options: Http1PoolOptions = {}) {
    this.idleMs = options.idleMs ?? IDLE_CONNECTION_MS;
  }

  /** Sends `GET url`; resolves with the final answer's head (interim answers skipped), its body not yet read. */
  request(req: Http1Request): Promise<Http1Answer> {
    if (req.url.protocol !== "http:" && req.url.protocol !== "https:") return Promise.reject(new Error(`${req.url.protocol} is not http(s)`));
    const origin = req.url.origin;
    const conn = this.#idle.get(origin)?.pop() ?? new Connection(origin, req.url, this);
    this.#all.add(conn);
    return conn.request(req);
  }

  release(c: Connection): void {
    const idle = this.#idle.get(c.origin) ?? [];
    if (idle.length >= MAX_IDLE_PER_ORIGIN) return c.destroy();
    idle.push(c);
    this.#idle.set(c.origin, idle);
  }

  forget(c: Connection): void {
    this.#all.delete(c);
    const idle = this.#idle.get(c.origin);
    const i = idle?.indexOf(c) ?? -1;
    if (idle && i >= 0) idle.splice(i, 1);
  }

  /** Closes every connection, idle or not. */
  close(): void {
    for (const c of [...this.#all]) c.destroy();
  }
}
