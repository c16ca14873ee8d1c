/**
 * Read buffers recycled between chunks, so that copying gigabytes touches the same few megabytes of memory
 * (fresh buffers cost a page fault per 4 KB, and each one the allocator gets back late raises the process's
 * resident size). A buffer goes back to the pool once its write has completed. One pool serves a whole export, so
 * the next shard reuses the buffers of the one before instead of allocating its own while the old ones wait for the
 * garbage collector.
 *
 * Kept on release: only buffers that own their whole memory (not a view into a larger one), of a size asked for
 * more than once (a full chunk; the last, shorter chunk of a tensor is usually a size of its own, and keeping one
 * of each would hold memory nobody asks for again), of at least {@link MIN_POOLED_BYTES}, and at most
 * {@link FREE_BYTES_KEPT} bytes of free ones in all.
 */

/** Bytes of free buffers kept: the writer's read-ahead of 8 MiB chunks (a remote read's are smaller). */
export const FREE_BYTES_KEPT = 40 * 1024 * 1024;
/** Smaller buffers are not kept (a small tensor's bytes: cheap to allocate, and of many sizes). */
export const MIN_POOLED_BYTES = 64 * 1024;
/** Sizes whose allocations are counted, at most (past that the counts start again). */
const SIZES_COUNTED = 1024;

export class BufferPool {
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #asked = new Map<number, number>();
  #freeBytes = 0;

  alloc = (byteLength: number): Uint8Array => {
    if (byteLength >= MIN_POOLED_BYTES) {
      const reused = this.#free.get(byteLength)?.pop();
      if (reused) {
        this.#freeBytes -= byteLength;
        return reused;
      }
      if (this.#asked.size >= SIZES_COUNTED && !this.#asked.has(byteLength)) this.#asked.clear();
      this.#asked.set(byteLength, (this.#asked.get(byteLength) ?? 0) + 1);
    }
    const raw = Buffer.allocUnsafeSlow(byteLength);
    return new Uint8Array(raw.buffer, raw.byteOffset, byteLength);
  };

  /** Lets go of every free buffer (the writing is over: what follows, commit and checks, must not pay for them). */
  clear(): void {
    this.#free.clear();
    this.#asked.clear();
    this.#freeBytes = 0;
  }

  /** Free bytes held for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  release = (b: Uint8Array): void => {
    if (b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength || b.buffer instanceof SharedArrayBuffer) return;
    if ((this.#asked.get(b.byteLength) ?? 0) < 2 || this.#freeBytes + b.byteLength > FREE_BYTES_KEPT) return;
    const list = this.#free.get(b.byteLength) ?? [];
    list.push(b);
    this.#free.set(b.byteLength, list);
    this.#freeBytes += b.byteLength;
  };
}
