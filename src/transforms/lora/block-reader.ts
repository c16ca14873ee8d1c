/**
 * A tensor's bytes read into the caller's buffers, one block at a time, with no buffer of its own per block: the
 * source is given an `alloc` (TensorRef.chunks) that hands out the unfilled part of the block being filled, so a
 * file source reads straight into it (into shared memory the merge workers read). A chunk that is not such a view
 * (a source that computes its bytes, a chunk that straddles two blocks, one read ahead) is copied; the few spare
 * buffers `alloc` hands out for those are recycled.
 */
import { TruecastError } from "../../errors.js";
import type { TensorRef } from "../../sources/tensor-ref.js";

export interface BlockReader {
  /** Fill `dest` with the next bytes (fewer at the end of the tensor); returns how many. Fails if the source gives more or fewer than the tensor's bytes. */
  fill(dest: Uint8Array): Promise<number>;
  /** Stop reading (the source releases its file). */
  close(): Promise<void>;
}

/** Spare buffers kept for chunks that are copied. */
const SPARES = 4;

/** Read `ref` block by block (see the file comment), asking the source for chunks of `chunkSize` bytes. */
export function blockReader(ref: TensorRef, chunkSize: number): BlockReader {
  const total = ref.byteLength;
  const what = `${ref.origin}: "${ref.name}"`;
  /** The part of the block being filled that no chunk holds yet. */
  let target: Uint8Array | null = null;
  /**
   * Buffers handed out whose chunk has not come yet. A view of `target` is handed out only when there are none:
   * a source that reads ahead then gets spares, so the chunk a view was made for is always the next one to come.
   */
  let outstanding = 0;
  const spares: Uint8Array[] = [];
  const alloc = (n: number): Uint8Array => {
    outstanding++;
    if (target !== null && outstanding === 1 && n <= target.byteLength) return target.subarray(0, n);
    const i = spares.findIndex((b) => b.byteLength === n);
    return i >= 0 ? (spares.splice(i, 1)[0] as Uint8Array) : new Uint8Array(n);
  };
  const iterator = ref.chunks(chunkSize, alloc)[Symbol.asyncIterator]();
  /** Bytes of the last chunk not copied yet (it straddled two blocks). */
  let carry: Uint8Array | null = null;
  let carried: Uint8Array | null = null;
  let seen = 0;
  let done = 0;

  const recycle = (chunk: Uint8Array): void => {
    const own = !(chunk.buffer instanceof SharedArrayBuffer) && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
    if (own && spares.length < SPARES) spares.push(chunk);
  };
  const wrongSize = (): never => {
    throw new TruecastError("UNREADABLE", `${what}: source gave ${seen} bytes instead of ${total}`);
  };

  return {
    async fill(dest: Uint8Array): Promise<number> {
      const want = Math.min(dest.byteLength, total - done);
      let filled = 0;
      const take = (bytes: Uint8Array): Uint8Array | null => {
        const n = Math.min(bytes.byteLength, want - filled);
        dest.set(bytes.subarray(0, n), filled);
        filled += n;
        return n < bytes.byteLength ? bytes.subarray(n) : null;
      };
      if (carry !== null) {
        carry = take(carry);
        if (carry === null && carried !== null) {
          recycle(carried);
          carried = null;
        }
      }
      try {
        while (filled < want) {
          target = dest.subarray(filled, want);
          const next = await iterator.next();
          if (next.done === true) break;
          const chunk = next.value;
          outstanding = Math.max(0, outstanding - 1);
          seen += chunk.byteLength;
          if (seen > total) wrongSize();
          if (chunk.buffer === dest.buffer && chunk.byteOffset === dest.byteOffset + filled && chunk.byteLength <= want - filled) {
            filled += chunk.byteLength; // read in place
          } else {
            carry = take(chunk);
            if (carry === null) recycle(chunk);
            else carried = chunk;
          }
        }
      } finally {
        target = null;
      }
      done += filled;
      if (filled < want) wrongSize();
      if (done === total) {
        // the source must end here (bytes carried over would have counted past the total already)
        const next = await iterator.next();
        if (next.done !== true) {
          seen += next.value.byteLength;
          wrongSize();
        }
      }
      return filled;
    },
    async close(): Promise<void> {
      await iterator.return?.(undefined);
    },
  };
}
