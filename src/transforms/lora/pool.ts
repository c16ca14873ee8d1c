/**
 * A pool of worker threads that run the merge ({@link mergeRows}) on row ranges of a block, in parallel, on
 * shared memory. Every step is row- or element-local, so the bytes and counts are those of one thread.
 */
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { TruecastError } from "../../errors.js";
import { startWorker } from "../../util/worker.js";
import { combineCastReports, mergeRows, type MergeRowsResult, type MergeRowsTask } from "./merge-rows.js";
import type { WorkerReply, WorkerTask } from "./pool-protocol.js";

/**
 * Below this many multiply-adds (rows × cols × rank) a block runs on the calling thread: posting to workers
 * costs tens of microseconds, which is more than the work itself.
 */
export const DEFAULT_MIN_PARALLEL_WORK = 1 << 20;

/** A block to merge: a {@link MergeRowsTask} for all its rows. Typed arrays must be views at offset 0 of SharedArrayBuffers. */
export type SharedMergeBlock = Omit<MergeRowsTask, "rowStart" | "rowEnd"> & { readonly rowCount: number };

export interface MergePool {
  /** Number of worker threads. */
  readonly size: number;
  /** Merge every row of the block (see merge-rows.ts); the result combines the workers' shares. */
  mergeRows(block: SharedMergeBlock): Promise<MergeRowsResult>;
  /** Stop the workers. The pool cannot be used afterwards. */
  close(): Promise<void>;
}

export interface CreateMergePoolParams {
  /** Worker threads; default `os.availableParallelism()`. */
  readonly size?: number;
  /** Blocks with fewer multiply-adds run inline; default {@link DEFAULT_MIN_PARALLEL_WORK}. 0 always uses workers. */
  readonly minParallelWork?: number;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, { resolve: (r: MergeRowsResult) => void; reject: (e: Error) => void }>;
}

function sharedBuffer(view: Float32Array | Uint8Array, what: string): SharedArrayBuffer;
function sharedBuffer(view: Float32Array | Uint8Array | null, what: string): SharedArrayBuffer | null;
function sharedBuffer(view: Float32Array | Uint8Array | null, what: string): SharedArrayBuffer | null {
  if (view === null) return null;
  if (!(view.buffer instanceof SharedArrayBuffer) || view.byteOffset !== 0) {
    throw new TruecastError("INTERNAL", `merge pool: ${what} must be a view at offset 0 of a SharedArrayBuffer`);
  }
  return view.buffer;
}

/** Start a pool of worker threads for the LoRA merge. Idle workers do not keep the process alive. */
export function createMergePool(params: CreateMergePoolParams = {}): MergePool {
  const size = Math.max(1, Math.floor(params.size ?? availableParallelism()));
  const minWork = params.minParallelWork ?? DEFAULT_MIN_PARALLEL_WORK;
  const workers: PoolWorker[] = [];
  let nextId = 1;
  let closed = false;
  let broken: Error | null = null;

  for (let w = 0; w < size; w++) {
    const worker = startWorker(import.meta.url, "merge-worker");
    const pw: PoolWorker = { worker, pending: new Map() };
    worker.unref();
    worker.on("message", (reply: WorkerReply) => {
      const p = pw.pending.get(reply.id);
      if (p === undefined) return;
      pw.pending.delete(reply.id);
      if (pw.pending.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new TruecastError("INTERNAL", `merge worker failed: ${reply.message}`));
    });
    const fail = (e: Error): void => {
      broken = e;
      for (const p of pw.pending.values()) p.reject(new TruecastError("INTERNAL", `merge worker stopped: ${e.message}`, { cause: e }));
      pw.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!closed) fail(new Error(`exited with code ${code}`));
    });
    workers.push(pw);
  }

  function post(pw: PoolWorker, task: WorkerTask): Promise<MergeRowsResult> {
    return new Promise<MergeRowsResult>((resolve, reject) => {
      pw.pending.set(task.id, { resolve, reject });
      pw.worker.ref(); // a pending task must keep the process alive until it answers
      pw.worker.postMessage(task);
    });
  }

  return {
    size,
    async mergeRows(b: SharedMergeBlock): Promise<MergeRowsResult> {
      if (closed) throw new TruecastError("INTERNAL", "merge pool used after close()");
      if (broken !== null) throw new TruecastError("INTERNAL", `merge pool is broken: ${(broken as Error).message}`);
      const work = b.rowCount * b.cols * Math.max(1, b.rank);
      const end = b.blockStartRow + b.rowCount;
      if (work < minWork || b.rowCount < 2) return mergeRows({ ...b, rowStart: b.blockStartRow, rowEnd: end });
      const common = {
        left: sharedBuffer(b.left, "left"),
        right: sharedBuffer(b.right, "right"),
        baseBytes: sharedBuffer(b.baseBytes, "baseBytes"),
        values: sharedBuffer(b.values, "values"),
        touched: sharedBuffer(b.touched, "touched"),
        rowMagnitude: sharedBuffer(b.rowMagnitude, "rowMagnitude"),
        colFactor: sharedBuffer(b.colFactor, "colFactor"),
        out: sharedBuffer(b.out, "out"),
        rank: b.rank,
        cols: b.cols,
        scale: b.scale,
        blockStartRow: b.blockStartRow,
        baseDtype: b.baseDtype,
        outDtype: b.outDtype,
      };
      const parts = Math.min(workers.length, b.rowCount);
      const tasks: Promise<MergeRowsResult>[] = [];
      for (let t = 0; t < parts; t++) {
        const rowStart = b.blockStartRow + Math.floor((b.rowCount * t) / parts);
        const rowEnd = b.blockStartRow + Math.floor((b.rowCount * (t + 1)) / parts);
        tasks.push(post(workers[t] as PoolWorker, { ...common, id: nextId++, rowStart, rowEnd }));
      }
      const results = await Promise.all(tasks);
      const total: MergeRowsResult = { changed: 0, tooSmall: 0, cast: null, nonFinite: null };
      for (const r of results) {
        total.changed += r.changed;
        total.tooSmall += r.tooSmall;
        total.cast = combineCastReports(total.cast, r.cast);
        if (total.nonFinite === null) total.nonFinite = r.nonFinite; // parts are in row order: the first one wins
      }
      return total;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all(workers.map((pw) => pw.worker.terminate()));
    },
  };
}
