/**
 * Read buffers recycled between chunks, so that copying gigabytes touches the same few megabytes of memory
 * (fresh buffers cost a page fault per 4 KB, and each one the allocator hands back late raises the process's
 * resident size). A buffer goes back to the pool once its write has completed. One pool serves a whole export, so
 * the next shard reuses the buffers of the one before instead of allocating its own while the old ones wait for the
 * garbage collector. Only buffers that own their whole memory are kept (a view into a larger buffer is left alone),
 * and at most {@link FREE_BYTES_KEPT} bytes of free ones (odd sizes, the last chunk of a tensor, are left to the
 * collector past that).
 */

/** Bytes of free buffers kept: the writer's read-ahead of 8 MiB chunks (a remote read's are smaller). */
export const FREE_BYTES_KEPT = 40 * 1024 * 1024;

export class BufferPool {
  readonly #free = new Map<number, Uint8Array[]>();
  #freeBytes = 0;

  alloc = (byteLength: number): Uint8Array => {
    const reused = this.#free.get(byteLength)?.pop();
    if (reused) {
      this.#freeBytes -= byteLength;
      return reused;
    }
    const raw = Buffer.allocUnsafeSlow(byteLength);
    return new Uint8Array(raw.buffer, raw.byteOffset, byteLength);
  };

  release = (b: Uint8Array): void => {
    if (b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength || b.buffer instanceof SharedArrayBuffer) return;
    if (this.#freeBytes + b.byteLength > FREE_BYTES_KEPT) return;
    const list = this.#free.get(b.byteLength) ?? [];
    list.push(b);
    this.#free.set(b.byteLength, list);
    this.#freeBytes += b.byteLength;
  };
}
