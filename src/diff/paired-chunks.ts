/**
 * Two tensors of the same element count, streamed side by side: each step gives the bytes of the same elements of
 * both, however each source cuts its chunks. Reads run ahead of the comparison on both sides (one chunk each), and
 * the buffers they read into are recycled, so that memory stays a few chunks whatever the tensor's size.
 */
import { Buffer } from "node:buffer";
import { TruecastError } from "../errors.js";
import type { TensorRef } from "../sources/tensor-ref.js";
import { prefetch } from "../util/prefetch.js";

/** The same `units` units (elements, or bytes for sub-byte dtypes) of a and of b. Valid until the next step. */
export interface ChunkPair {
  readonly a: Uint8Array;
  readonly b: Uint8Array;
  readonly units: number;
}

/** Buffers of one size, handed out and taken back, so that reading a tensor touches no new memory after its first chunks. */
class BufferPool {
  private readonly free: Uint8Array[] = [];
  private readonly mine = new WeakMap<ArrayBufferLike, Uint8Array>();

  constructor(private readonly size: number) {}

  take = (n: number): Uint8Array => {
    if (n > this.size) return new Uint8Array(n);
    let whole = this.free.pop();
    if (whole === undefined) {
      const raw = Buffer.allocUnsafeSlow(this.size);
      whole = new Uint8Array(raw.buffer, raw.byteOffset, this.size);
      this.mine.set(whole.buffer, whole);
    }
    return whole.subarray(0, n);
  };

  give(chunk: Uint8Array): void {
    const whole = this.mine.get(chunk.buffer);
    if (whole !== undefined && !this.free.includes(whole)) this.free.push(whole);
  }
}

/** One side: the chunk being consumed and how far into it. */
class Cursor {
  private readonly iter: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array | null = null;
  private pos = 0;

  constructor(ref: TensorRef, chunkBytes: number, private readonly unit: number, private readonly pool: BufferPool) {
    this.iter = prefetch(ref.chunks(chunkBytes, pool.take), 1)[Symbol.asyncIterator]();
  }

  /** Units left in the current chunk, reading the next chunk when it is used up; 0 at the end. */
  async available(): Promise<number> {
    while (this.chunk === null || this.pos >= this.chunk.byteLength) {
      if (this.chunk !== null) this.pool.give(this.chunk);
      this.chunk = null;
      this.pos = 0;
      const r = await this.iter.next();
      if (r.done === true) return 0;
      this.chunk = r.value;
    }
    return Math.floor((this.chunk.byteLength - this.pos) / this.unit);
  }

  take(units: number): Uint8Array {
    const c = this.chunk as Uint8Array;
    const out = c.subarray(this.pos, this.pos + units * this.unit);
    this.pos += units * this.unit;
    return out;
  }

  async close(): Promise<void> {
    await this.iter.return?.(undefined);
  }
}

/**
 * Pairs of chunks covering `units` units of both tensors, in order. `unitA`/`unitB` are the bytes per unit of each
 * side; `chunkUnits` how many units each read holds (a multiple of 8). A side that ends early, or runs on, throws.
 */
export async function* pairedChunks(params: {
  a: TensorRef;
  b: TensorRef;
  units: number;
  unitA: number;
  unitB: number;
  chunkUnits: number;
}): AsyncGenerator<ChunkPair> {
  const { a, b, units, unitA, unitB, chunkUnits } = params;
  const left = new Cursor(a, chunkUnits * unitA, unitA, new BufferPool(chunkUnits * unitA));
  const right = new Cursor(b, chunkUnits * unitB, unitB, new BufferPool(chunkUnits * unitB));
  try {
    let done = 0;
    while (done < units) {
      const n = Math.min(await left.available(), await right.available(), units - done);
      if (n === 0) {
        throw new TruecastError("UNREADABLE", `${a.origin}: ${a.name} / ${b.origin}: ${b.name}: the tensor's bytes end before its shape says; the file is truncated or damaged`);
      }
      yield { a: left.take(n), b: right.take(n), units: n };
      done += n;
    }
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
}
