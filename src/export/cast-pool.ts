import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { summarize, createCaster, type CastReport } from "../dtype/cast.js";
import { dtypeSize, type FloatDType } from "../dtype/table.js";
import { TruecastError, type ErrorCode } from "../errors.js";
import { startWorker } from "../util/worker.js";
import type { CastReply, CastTask } from "./cast-protocol.js";

/** Chunks smaller than this are converted on the calling thread: a round trip to a worker would cost more. */
export const INLINE_CAST_BYTES = 256 * 1024;

interface Slot {
  readonly worker: Worker;
  busy: number;
}

function owns(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

/**
 * Worker threads that convert chunks, so that a conversion uses every core while the main thread reads and
 * writes. Started on first use; `close()` stops them.
 */
export class CastPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { slot: Slot; resolve: (r: { input: Uint8Array; output: Uint8Array; report: CastReport }) => void; reject: (e: Error) => void }>();

  constructor(readonly size: number = Math.max(1, availableParallelism())) {}

  private pick(): Slot {
    if (this.slots.length < this.size && this.slots.every((s) => s.busy > 0)) {
      const worker = startWorker(import.meta.url, "cast-worker");
      const slot: Slot = { worker, busy: 0 };
      worker.on("message", (r: CastReply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        p.slot.busy--;
        if ("error" in r) p.reject(new TruecastError(r.code as ErrorCode, r.error));
        else p.resolve(r);
      });
      worker.on("error", (e) => {
        for (const [id, p] of this.pending) {
          if (p.slot !== slot) continue;
          this.pending.delete(id);
          p.reject(new TruecastError("INTERNAL", `a conversion thread failed: ${e.message}`));
        }
      });
      this.slots.push(slot);
    }
    return this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  /**
   * Convert one chunk on a worker, into `output` when given. The buffers move to the worker and come back
   * as `input` and `output`.
   */
  cast(from: FloatDType, to: FloatDType, input: Uint8Array, output: Uint8Array | null = null): Promise<{ input: Uint8Array; output: Uint8Array; report: CastReport }> {
    const slot = this.pick();
    const id = this.nextId++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { slot, resolve, reject });
      const transfer = [input, output].filter((b): b is Uint8Array => b !== null && owns(b)).map((b) => b.buffer as ArrayBuffer);
      slot.worker.postMessage({ id, from, to, input, output } satisfies CastTask, transfer);
    });
  }

  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/**
 * Convert a stream of chunks, `depth` chunks at a time on the pool (small ones on this thread), yielding the
 * converted bytes in order. `release` gets each input buffer back once it is converted; `report()` combines
 * the chunks' reports.
 */
export function castStream(params: {
  source: AsyncIterable<Uint8Array>;
  from: FloatDType;
  to: FloatDType;
  pool: CastPool;
  /** A buffer for a chunk's output (recycled by the caller once written). */
  alloc: (byteLength: number) => Uint8Array;
  release: (input: Uint8Array) => void;
}): { chunks: AsyncIterable<Uint8Array>; report: () => CastReport } {
  const { from, to, pool } = params;
  const reports: CastReport[] = [];
  const inline = createCaster(from, to);
  let usedInline = false;
  const depth = pool.size + 1;
  async function* run(): AsyncGenerator<Uint8Array> {
    const queue: Promise<Uint8Array>[] = [];
    const submit = (chunk: Uint8Array): Promise<Uint8Array> => {
      if (chunk.byteLength < INLINE_CAST_BYTES) {
        usedInline = true;
        const out = inline.cast(chunk);
        params.release(chunk);
        return Promise.resolve(out);
      }
      const outBytes = (chunk.byteLength / dtypeSize(from)) * dtypeSize(to);
      const p = pool.cast(from, to, chunk, params.alloc(outBytes)).then((r) => {
        reports.push(r.report);
        params.release(r.input);
        return r.output;
      });
      p.catch(() => undefined);
      return p;
    };
    try {
      for await (const chunk of params.source) {
        queue.push(submit(chunk));
        if (queue.length >= depth) yield await (queue.shift() as Promise<Uint8Array>);
      }
      while (queue.length > 0) yield await (queue.shift() as Promise<Uint8Array>);
    } finally {
      // Let conversions still in flight settle before the caller moves on.
      await Promise.allSettled(queue);
    }
  }
  return {
    chunks: run(),
    report: () => {
      const all = usedInline ? [...reports, inline.report()] : reports;
      const { pairs: _pairs, tensors: _chunks, ...sum } = summarize(all.length > 0 ? all : [inline.report()]);
      return { ...sum, from, to };
    },
  };
}
