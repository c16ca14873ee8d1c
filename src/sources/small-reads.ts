/**
 * Reads of tiny tensors served from blocks of their file: a file of a million 2-byte tensors is read in a few
 * 256 KB blocks instead of a million open/read/close round trips. A few blocks are kept (most recently read), and
 * when a file's tiny tensors are read in an order that makes blocks wasteful (more than {@link MAX_AMPLIFICATION}
 * times the bytes asked for, after the first blocks), the file's reads go back to plain positional reads. Blocks
 * are read through the file's {@link ModelStore} (a local folder, or a Hub repo read in place), each block's read
 * opening the file and closing it after, so no handle is held between reads.
 */
import type { ModelStore } from "../store/store.js";
import { storeRangeChunks } from "./store-files.js";

/** Bytes per block. */
const BLOCK = 256 * 1024;
/** Blocks kept per file. */
const KEEP = 8;
/** Largest tensor served from blocks. */
export const SMALL_READ_MAX = 4096;
/** Bytes read for blocks beyond which the ratio to bytes served is checked. */
const GRACE = 4 * BLOCK;
/** Most bytes read per byte served before blocks are given up for a file. */
const MAX_AMPLIFICATION = 16;

export class SmallReads {
  private readonly blocks = new Map<number, Promise<Uint8Array>>();
  private read = 0;
  private served = 0;
  private off = false;

  private readonly store: ModelStore;
  private readonly path: string;
  private readonly end: number;

  /** The store's file `path`; `end`: the file's length (a block never reaches past it). */
  constructor(params: { store: ModelStore; path: string; end: number }) {
    this.store = params.store;
    this.path = params.path;
    this.end = params.end;
  }

  /**
   * The `length` bytes at `start` (at most {@link SMALL_READ_MAX}), copied into a buffer of `alloc` or a fresh one;
   * null when this file's reads are not served from blocks (the caller reads them itself).
   */
  async bytes(start: number, length: number, alloc?: (n: number) => Uint8Array): Promise<Uint8Array | null> {
    const first = Math.floor(start / BLOCK);
    if (this.off || length > SMALL_READ_MAX || first !== Math.floor((start + length - 1) / BLOCK)) return null;
    let block: Uint8Array;
    try {
      block = await this.block(first);
    } catch {
      return null; // a plain read of the tensor reports what is wrong, in its own words
    }
    const from = start - first * BLOCK;
    if (from + length > block.length) return null; // the file shrank: a plain read reports it
    const out = alloc ? alloc(length) : new Uint8Array(length);
    out.set(block.subarray(from, from + length));
    this.served += length;
    return out;
  }

  private block(index: number): Promise<Uint8Array> {
    const cached = this.blocks.get(index);
    if (cached) {
      this.blocks.delete(index);
      this.blocks.set(index, cached); // most recently used last
      return cached;
    }
    const start = index * BLOCK;
    const length = Math.max(0, Math.min(BLOCK, this.end - start));
    const p = (async () => {
      const parts: Uint8Array[] = [];
      for await (const c of storeRangeChunks({ store: this.store, path: this.path, start, length, chunkSize: BLOCK })) parts.push(c);
      return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    })();
    p.catch(() => this.blocks.delete(index));
    this.blocks.set(index, p);
    if (this.blocks.size > KEEP) this.blocks.delete(this.blocks.keys().next().value as number);
    this.read += length;
    if (this.read > GRACE && this.read > MAX_AMPLIFICATION * this.served) {
      this.off = true;
      this.blocks.clear();
    }
    return p;
  }
}
