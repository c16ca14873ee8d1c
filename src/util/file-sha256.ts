/**
 * The sha256 of a file, computed on a worker thread: a file to upload (the LFS protocol needs a file's sha256 before
 * its first byte is sent) or a source file of an export (its digest in the card and the report). On the main thread
 * that pass (~0.7 s per GB) would compete with sending or writing other files; on a thread of its own it runs beside
 * them.
 *
 * One idle worker is kept (unref'd, so it never keeps the process alive) for the next file; a job that is
 * cancelled ends its worker, since a synchronous read loop cannot be interrupted any other way.
 */
import type { Worker } from "node:worker_threads";
import { TruecastError } from "../errors.js";
import { startWorker } from "./worker.js";
import type { Sha256Job, Sha256Reply, Sha256Schedule } from "./sha256-protocol.js";

/** Progress is reported after every this many bytes (the caller throttles events further). */
const PROGRESS_BYTES = 32 * 1024 * 1024;

/** Idle workers kept for the next files: publishFolder hashes at most two files at once. */
const MAX_IDLE_WORKERS = 2;

const idle: Worker[] = [];
/** Jobs running now: each one's worker is idle again when it ends, ready for the next file. */
let busy = 0;

export interface FileSha256Params {
  path: string;
  /** The file's size and mtime when its upload or export began (a snapshot); a file that differs is refused. */
  size: number;
  mtimeMs: number;
  /**
   * Device and inode of the file as it was listed, when known: checked too (with fstat on the handle hashed), so a
   * file replaced by another of the same size and mtime, or a link pointed elsewhere, is refused.
   */
  dev?: number;
  ino?: number;
  /** Bytes hashed so far. */
  onProgress?: (bytes: number) => void;
  /**
   * "critical" when nothing can go on before this hash (a publish's first LFS file: no byte leaves before it): the
   * next piece of the file is read on libuv's thread pool while this one is hashed, which takes the copy from the
   * page cache (about a tenth of the pass) off the hashing thread, for a little more CPU in all. Default "normal":
   * reads and hashes in turn, the cheapest pass for a hash that runs beside other work.
   */
  schedule?: Sha256Schedule;
  signal?: AbortSignal;
  /**
   * The error for a file that is not the snapshot (or changed while it was hashed).
   * @default UNREADABLE "<path> changed while it was being uploaded; ... then publish again"
   */
  changed?: (path: string) => Error;
}

function uploadChanged(path: string): TruecastError {
  return new TruecastError("UNREADABLE", `${path} changed while it was being uploaded; let whatever writes it finish, then publish again`);
}

function newWorker(): Worker {
  const worker = startWorker(import.meta.url, "sha256-worker");
  // An idle worker that dies is dropped from the pool; a job in flight sees the same events through its own listeners.
  const drop = () => {
    const i = idle.indexOf(worker);
    if (i >= 0) idle.splice(i, 1);
  };
  worker.on("error", drop);
  worker.on("exit", drop);
  return worker;
}

/**
 * Start a worker ahead of the first file, so its start-up overlaps the Hub calls
 * that come before any hash. It waits unref'd, so it never keeps the process alive. None is started while a hash
 * runs (a publish's first files are hashed from the start): that one's worker comes back for the next file.
 */
export function warmSha256Worker(): void {
  if (idle.length > 0 || busy > 0) return;
  const worker = newWorker();
  worker.unref();
  idle.push(worker);
}

export function sha256OnWorker(params: FileSha256Params): Promise<string> {
  const { path, signal, schedule = "normal" } = params;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const worker = idle.pop() ?? newWorker();
  worker.ref();
  busy++;
  return new Promise<string>((resolve, reject) => {
    let ended = false;
    const cleanup = () => {
      if (!ended) busy--;
      ended = true;
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (e: unknown) => {
      cleanup();
      void worker.terminate();
      reject(e);
    };
    const onMessage = (r: Sha256Reply) => {
      if (r.type === "progress") return params.onProgress?.(r.bytes);
      cleanup();
      worker.unref();
      if (idle.length < MAX_IDLE_WORKERS) idle.push(worker);
      else void worker.terminate();
      if (r.type === "done") resolve(r.sha256);
      else reject(r.changed ? (params.changed ?? uploadChanged)(path) : new TruecastError("UNREADABLE", `cannot read ${path}: ${r.message}`));
    };
    const onError = (e: Error) => fail(new TruecastError("INTERNAL", `the thread hashing ${path} failed: ${e.message}; this is a truecast bug`));
    const onExit = (code: number) => fail(new TruecastError("INTERNAL", `the thread hashing ${path} exited (code ${code}); this is a truecast bug`));
    const onAbort = () => fail(signal?.reason);
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    signal?.addEventListener("abort", onAbort, { once: true });
    const { dev = null, ino = null, size, mtimeMs } = params;
    const job: Sha256Job = { path, dev, ino, size, mtimeMs, progressBytes: PROGRESS_BYTES, schedule };
    worker.postMessage(job);
  });
}
