/**
 * How upload bodies (an LFS single PUT, a multipart part) travel. hub-fetch.ts decides everything else about the
 * request (token per origin, no redirect followed for an upload, retries, deadlines through `signal`, the answer's
 * body guarded); a transport only sends one attempt and answers like fetch: a Response, or a rejection whose
 * `cause` says why (`TypeError("fetch failed", { cause })` with the system error, ECONNRESET, EPIPE, ...; a
 * TruecastError of the file when the body could not be read; the signal's reason when aborted).
 *
 * - httpUpload, the default: one `node:http`/`node:https` request over a keep-alive agent, with Content-Length.
 *   A FileBlob body is read with positional reads into two buffers that are reused as soon as the socket has taken
 *   them (so no buffer is allocated per chunk and the garbage collector has nothing to do), one read ahead of the
 *   socket, which is all the backpressure needed.
 * - fetchUpload(f): through a fetch (an injected one, in tests), with `redirect: "error"`, the only mode in which
 *   Node's fetch streams a body instead of holding it whole (undici #4058).
 *
 * Why not Node's fetch by default: profiled (`--cpu-prof`) on a 2 × 1 GB publish to the Hub double, the client's
 * main thread spent 1.9 s in the garbage collector (a fresh 1 MiB buffer per chunk, each an external allocation
 * that pushes V8 to collect) plus fetch's web streams and per-request set-up for each 8 MiB part; with this
 * transport the collector takes 0.2 s, and the client's CPU for the multipart publish fell from 12.0 s to 7.9 s
 * (same machine, same load).
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { FileBlob } from "./file-blob.js";

export interface UploadRequest {
  method: string;
  headers: Headers;
  body: Blob;
  signal: AbortSignal | null;
  /** Body bytes handed to the connection, as they go. */
  onBytes: (n: number) => void;
}

/** Sends one attempt of an upload; redirects come back as they are (hub-fetch.ts refuses them). */
export type UploadTransport = (url: URL, req: UploadRequest) => Promise<Response>;

/**
 * Connections kept open between requests, per scheme: the parts of a multipart upload (and the files after it)
 * reuse them instead of paying a TCP and TLS handshake per part. Node's agent unrefs idle sockets, so they never
 * keep a process alive; one the server has closed fails its next request, which hub-fetch.ts retries.
 */
const AGENTS = { "http:": new HttpAgent({ keepAlive: true }), "https:": new HttpsAgent({ keepAlive: true }) };

/** Bytes per positional read of a file body: the reference PUT's read size; per-read costs are gone from 512 KiB. */
export const UPLOAD_READ_BYTES = 1024 * 1024;

/**
 * Read buffers kept between requests while uploads run (each takes two): enough for what one publish sends at once
 * (3 files × 5 parts). When no upload is running they are let go, so an idle process holds none.
 *
 * An upload runs from its request's start until its answer arrives (or it fails), not only while its body is read:
 * a part's whole body often fits in the socket buffers long before the server answers, and with the pool let go in
 * that gap, measured on a 2 × 1 GB multipart publish, 409 of 484 parts allocated fresh buffers (430 MB in all),
 * and the collector ran 35 full collections on a 10 MB heap to account for them.
 */
const SPARE_BUFFERS_KEPT = 32;
const spare: Buffer[] = [];
let uploadsRunning = 0;

/** Counts an upload as running until the returned function is called (once; later calls do nothing). */
function holdPool(): () => void {
  uploadsRunning++;
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--uploadsRunning === 0) spare.length = 0;
  };
}

function takeBuffer(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(UPLOAD_READ_BYTES);
}

function giveBuffer(b: Buffer): void {
  if (uploadsRunning > 0 && spare.length < SPARE_BUFFERS_KEPT) spare.push(b);
}

/** Statuses whose Response cannot carry a body. */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

function failed(cause: unknown): TypeError {
  return new TypeError("fetch failed", { cause });
}

/** Resolves on the request's next "drain" or "close", whichever comes first. */
function drainOrClose(req: ClientRequest): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      req.off("drain", done);
      req.off("close", done);
      resolve();
    };
    req.on("drain", done);
    req.on("close", done);
  });
}

/**
 * Send a file's bytes: two buffers in turn, each read while the other is in the socket. A buffer goes back to the
 * pool only from a successful write's callback (the socket no longer holds it); one still held when the request is
 * destroyed is left to the garbage collector.
 */
async function pumpFile(req: ClientRequest, blob: FileBlob, onBytes: (n: number) => void): Promise<void> {
  const reader = blob.reader();
  const release = holdPool();
  const free = [takeBuffer(), takeBuffer()];
  let wake: (() => void) | null = null;
  let finished = false;
  const onClose = () => wake?.();
  req.on("close", onClose);
  try {
    for (;;) {
      while (free.length === 0 && !req.destroyed) await new Promise<void>((r) => (wake = r));
      const buf = free.pop();
      if (buf === undefined || req.destroyed) return;
      const got = await reader.next(buf);
      if (req.destroyed) return;
      if (got === 0) {
        free.push(buf);
        break;
      }
      onBytes(got);
      req.write(got === buf.length ? buf : buf.subarray(0, got), (err) => {
        if (err) return;
        if (finished) return giveBuffer(buf);
        free.push(buf);
        wake?.();
      });
    }
    req.end();
  } finally {
    req.off("close", onClose);
    // Releases the file handle when the loop stopped early (a no-op once the last read answered 0).
    await reader.close();
    // The buffers no write holds go back now, the others from their write's callback.
    finished = true;
    for (const b of free.splice(0)) giveBuffer(b);
    release();
  }
}

/** Send any other Blob's stream, waiting for the socket to drain whenever its buffer is full. */
async function pumpStream(req: ClientRequest, blob: Blob, onBytes: (n: number) => void): Promise<void> {
  const reader = blob.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (req.destroyed) return;
      if (done) break;
      onBytes(value.byteLength);
      if (!req.write(value)) await drainOrClose(req);
      if (req.destroyed) return;
    }
    req.end();
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The headers of an answer, repeated ones kept, as fetch gives them. */
function answerHeaders(res: IncomingMessage): Headers {
  const h = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
  return h;
}

/** The default transport: node:http / node:https over keep-alive agents (see the top of this file). */
export const httpUpload: UploadTransport = (url, { method, headers, body, signal, onBytes }) =>
  new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const agent = url.protocol === "https:" ? AGENTS["https:"] : url.protocol === "http:" ? AGENTS["http:"] : null;
    if (agent === null) return reject(failed(new Error(`cannot upload to a ${url.protocol} URL`)));
    const plain: Record<string, string> = {};
    headers.forEach((v, k) => (plain[k] = v));
    plain["content-length"] = String(body.size);
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method, headers: plain, agent });
    let answer: IncomingMessage | null = null;
    let settled = false;
    // Until it settles, this request's body may be sent again soon by the next part: the read buffers stay pooled.
    const release = holdPool();
    req.once("close", release);
    /** Before the answer: the request fails. After: the answer's body fails (its reader sees the error). */
    const fail = (e: unknown) => {
      if (!settled) {
        settled = true;
        release();
        signal?.removeEventListener("abort", onAbort);
        req.destroy();
        reject(e);
      } else if (answer && !answer.complete) {
        answer.destroy(e instanceof Error ? e : new Error(String(e)));
      }
    };
    const onAbort = () => {
      fail(signal?.reason);
      req.destroy();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e) => fail(failed(e)));
    req.on("response", (res) => {
      answer = res;
      if (settled) return void res.destroy();
      settled = true;
      release();
      // Until the answer's body is read or dropped, an abort (the deadline, a cancelled upload) still stops it.
      res.once("close", () => signal?.removeEventListener("abort", onAbort));
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        return reject(failed(new Error(`HTTP status ${status} from ${url.host}`)));
      }
      const empty = NULL_BODY_STATUSES.has(status) || method === "HEAD";
      if (empty) res.resume();
      const out = new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? "", headers: answerHeaders(res) });
      // As fetch sets it: errors built from the answer (repo-setup.ts apiError) name the URL.
      Object.defineProperty(out, "url", { value: url.href });
      resolve(out);
    });
    const pump = body instanceof FileBlob ? pumpFile(req, body, onBytes) : pumpStream(req, body, onBytes);
    // A body that cannot be read (the file changed or vanished) is not the network: hub-fetch.ts reads the cause.
    pump.catch((e: unknown) => fail(failed(e)));
  });

/**
 * A Blob look-alike whose stream counts bytes as fetch pulls them. Node's fetch takes any object tagged "Blob"
 * with a `stream()` as a Blob body, sends `size` as Content-Length and reads it lazily, so memory stays bounded.
 */
function countingBody(blob: Blob, count: (n: number) => void): NonNullable<RequestInit["body"]> {
  const like = {
    size: blob.size,
    type: blob.type,
    [Symbol.toStringTag]: "Blob",
    // A pull stream without a queue of its own (cheaper than pipeThrough, which adds two).
    stream: () => {
      const reader = blob.stream().getReader();
      return new ReadableStream<Uint8Array>(
        {
          async pull(ctl) {
            const { done, value } = await reader.read();
            if (done) return ctl.close();
            count(value.byteLength);
            ctl.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        },
        { highWaterMark: 0 },
      );
    },
    arrayBuffer: () => blob.arrayBuffer(),
    text: () => blob.text(),
    slice: (start?: number, end?: number, type?: string) => blob.slice(start, end, type),
  };
  return like as unknown as NonNullable<RequestInit["body"]>;
}

/** A transport through `f` (an injected fetch sees the uploads as it sees every other request). */
export function fetchUpload(f: typeof fetch): UploadTransport {
  return (url, { method, headers, body, signal, onBytes }) =>
    f(url, { method, headers, body: countingBody(body, onBytes), signal, redirect: "error" });
}
