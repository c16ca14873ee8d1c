import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { summarize, createCaster, type CastReport } from "../dtype/cast.js";
import { dtypeSize, type FloatDType } from "../dtype/table.js";
import { TruecastError, type ErrorCode } from "../errors.js";
import { startWorker } from "../util/worker.js";
import { CastArena } from "./cast-arena.js";
import type { CastInit, CastReply, CastTask } from "./cast-protocol.js";

/** Chunks smaller than this are converted on the calling thread: a round trip to a worker would cost more. */
export const INLINE_CAST_BYTES = 256 * 1024;
/**
 * The shared memory's heap per worker, and besides: room for what the writer holds in flight (write-shard.ts: 8 MiB
 * chunks, READ_AHEAD of them read ahead, one input and one output per conversion in flight, up to 16 MiB for a
 * widening's output, one output being written). Only the pages in use become resident; past this, plain buffers.
 */
export const RESIDENT_BYTES_PER_WORKER = 24 * 1024 * 1024;
export const RESIDENT_BYTES_BASE = 96 * 1024 * 1024;

interface Slot {
  readonly worker: Worker;
  busy: number;
}

function owns(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

type Converted = { input: Uint8Array; output: Uint8Array; report: CastReport };

/**
 * Worker threads that convert chunks, so that a conversion uses every core while the main thread reads and
 * writes. Started on first use; `close()` stops them. Chunks read into {@link alloc}'s buffers (a shared memory,
 * cast-arena.ts) are converted where they lie, into an output there; others are sent (moved) to the worker.
 */
export class CastPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { slot: Slot; input: Uint8Array; output: Uint8Array | null; resolve: (r: Converted) => void; reject: (e: Error) => void }>();
  /** The shared memory, made on first use (null: not available here). */
  private arena: CastArena | null | undefined;

  constructor(readonly size: number = Math.max(1, availableParallelism())) {}

  private theArena(): CastArena | null {
    if (this.arena === undefined) this.arena = CastArena.create(this.size, RESIDENT_BYTES_BASE + this.size * RESIDENT_BYTES_PER_WORKER);
    return this.arena;
  }

  /**
   * A buffer for a chunk to convert (input or output) in the shared memory, or null (none here, the chunk too small,
   * or the memory full): the caller then takes a plain one. Give it back with {@link release} once done with it.
   */
  alloc = (byteLength: number): Uint8Array | null => this.theArena()?.alloc(byteLength) ?? null;

  /** Give back a buffer of {@link alloc}; false (and nothing done) for any other buffer. */
  release = (b: Uint8Array): boolean => this.arena?.release(b) ?? false;

  /** Bytes of the shared memory handed out by {@link alloc} and not given back. */
  get residentBytes(): number {
    return this.arena?.usedBytes ?? 0;
  }

  private pick(): Slot {
    if (this.slots.length < this.size && this.slots.every((s) => s.busy > 0)) {
      const worker = startWorker(import.meta.url, "cast-worker");
      const slot: Slot = { worker, busy: 0 };
      const arena = this.theArena();
      if (arena !== null) worker.postMessage({ memory: arena.memory, base: arena.scratchBase(this.slots.length) } satisfies CastInit);
      worker.on("message", (r: CastReply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        p.slot.busy--;
        if ("error" in r) p.reject(new TruecastError(r.code as ErrorCode, r.error));
        else {
          const output = r.output ?? p.output;
          if (output === null) p.reject(new TruecastError("INTERNAL", "a conversion thread sent no output"));
          else p.resolve({ input: r.input ?? p.input, output, report: r.report });
        }
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
  cast(from: FloatDType, to: FloatDType, input: Uint8Array, output: Uint8Array | null = null): Promise<Converted> {
    const slot = this.pick();
    const id = this.nextId++;
    slot.busy++;
    const arena = this.arena ?? null;
    const inRegion = arena?.regionOf(input) ?? null;
    const outRegion = output === null ? null : (arena?.regionOf(output) ?? null);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { slot, input, output, resolve, reject });
      const sent = [inRegion === null ? input : null, outRegion === null ? output : null];
      const transfer = sent.filter((b): b is Uint8Array => b !== null && owns(b)).map((b) => b.buffer as ArrayBuffer);
      slot.worker.postMessage({ id, from, to, input: inRegion ?? input, output: outRegion ?? output } satisfies CastTask, transfer);
    });
  }

  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = [];
    // The workers go, and the memory with them once the last buffer of it is dropped.
    this.arena = undefined;
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
