/**
 * The memory the export's conversions happen in: one shared WebAssembly memory holding each cast worker's scratch
 * (simd-layout.ts) and a heap of chunk buffers. The writer reads a converted tensor's chunks straight into buffers
 * from the heap and writes the converted chunks straight out of it, and each worker's SIMD kernel, an instance in
 * this memory, converts in place (simd.ts): a cast is one pass over the bytes, not a copy into the kernel's memory,
 * the conversion and a copy out of it (copies that cost as much as the conversion). A WebAssembly memory's buffer
 * cannot be transferred to a worker, but a shared one is seen by every thread: the workers are told where a chunk
 * lies, never sent its bytes.
 *
 * Allocation is first fit in pages, lowest address first, so that the pages in use stay the same few (a page of
 * the memory, once touched, stays resident until the export ends and the memory is dropped). The memory never
 * grows: a request the heap cannot meet gets null, and the caller takes a plain buffer, converted by copy as before.
 */
import { HOST_LITTLE_ENDIAN } from "../dtype/host-order.js";
import { loadSimdCasts } from "../dtype/kernels/index.js";
import { SCRATCH_BYTES } from "../dtype/kernels/simd-layout.js";

/** Allocation unit: a WebAssembly page. */
const PAGE = 65536;
/** Smaller requests get a plain buffer: a chunk this small is converted on the calling thread (cast-pool.ts). */
export const MIN_RESIDENT_BYTES = 64 * 1024;

/** Where a chunk lies in the arena's memory: what a worker is sent instead of the chunk. */
export interface Region {
  readonly at: number;
  readonly byteLength: number;
}

/** The subset of the WebAssembly API used here (the project's TypeScript libs declare no WebAssembly types). */
interface SharedMemoryApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => { readonly buffer: SharedArrayBuffer };
}

export class CastArena {
  /** Owner (first page) of each heap page, −1 when free. */
  readonly #owner: Int32Array;
  readonly #heapAt: number;

  private constructor(
    /** A shared WebAssembly.Memory, for the workers to instantiate their kernels in. */
    readonly memory: { readonly buffer: SharedArrayBuffer },
    readonly buffer: SharedArrayBuffer,
    readonly workers: number,
    heapPages: number,
  ) {
    this.#heapAt = workers * SCRATCH_BYTES;
    this.#owner = new Int32Array(heapPages).fill(-1);
  }

  /**
   * An arena for `workers` workers and a heap of `heapBytes`, or null where the SIMD kernels cannot run in a shared
   * memory (no WebAssembly SIMD or threads, a big-endian host): the conversions then copy, as they always did.
   */
  static create(workers: number, heapBytes: number): CastArena | null {
    const wasm = (globalThis as { WebAssembly?: SharedMemoryApi }).WebAssembly;
    if (!HOST_LITTLE_ENDIAN || wasm === undefined) return null;
    const heapPages = Math.ceil(heapBytes / PAGE);
    const pages = (workers * SCRATCH_BYTES) / PAGE + heapPages;
    let memory: { readonly buffer: SharedArrayBuffer };
    try {
      memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
    } catch {
      return null;
    }
    // The kernels must instantiate in it (as the workers will): else no arena.
    if (loadSimdCasts(undefined, { memory, shared: true, base: 0 }) === null) return null;
    return new CastArena(memory, memory.buffer, workers, heapPages);
  }

  /** Where worker `i`'s kernel keeps its scratch. */
  scratchBase(i: number): number {
    return i * SCRATCH_BYTES;
  }

  /** A buffer of `byteLength` bytes in the heap (page-aligned), or null when the heap has no room for it. */
  alloc(byteLength: number): Uint8Array | null {
    if (byteLength < MIN_RESIDENT_BYTES) return null;
    const owner = this.#owner;
    const need = Math.ceil(byteLength / PAGE);
    let run = 0;
    for (let p = 0; p < owner.length; p++) {
      run = owner[p] === -1 ? run + 1 : 0;
      if (run === need) {
        const first = p - need + 1;
        owner.fill(first, first, p + 1);
        return new Uint8Array(this.buffer, this.#heapAt + first * PAGE, byteLength);
      }
    }
    return null;
  }

  /** Where `b` lies, when it is a view of the heap. */
  regionOf(b: Uint8Array): Region | null {
    return b.buffer === this.buffer && b.byteOffset >= this.#heapAt ? { at: b.byteOffset, byteLength: b.byteLength } : null;
  }

  /** Give back the heap buffer `b` lies in (any view of it); false when `b` is not from the heap. */
  release(b: Uint8Array): boolean {
    if (this.regionOf(b) === null) return false;
    const owner = this.#owner;
    const first = owner[Math.floor((b.byteOffset - this.#heapAt) / PAGE)] ?? -1;
    if (first === -1) return true;
    for (let p = first; p < owner.length && owner[p] === first; p++) owner[p] = -1;
    return true;
  }

  /** Heap bytes handed out and not yet given back. */
  get usedBytes(): number {
    let n = 0;
    for (const o of this.#owner) if (o !== -1) n++;
    return n * PAGE;
  }
}
