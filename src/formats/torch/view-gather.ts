/**
 * In-memory gathers of a strided view's elements: a {@link Gatherer} copies a block's elements found in a slice of
 * the storage to their row-major places; an {@link Odometer} steps through the indices of some dims.
 */
/**
 * Copies the elements of a strided block of the view (shape, storage strides, output strides in elements) from a
 * slice of the storage into a row-major output buffer. The dim with the largest stride is scanned innermost, its
 * in-range indices found by division, so a slice that holds part of the block costs its elements plus one step
 * per line.
 */
export class Gatherer {
  readonly #shape: readonly number[];
  readonly #stride: readonly number[];
  readonly #outStride: readonly number[];
  readonly #q: number;
  readonly #k: number;
  readonly #width: 1 | 2 | 4;
  readonly #out: Uint32Array | Uint16Array | Uint8Array;

  constructor(shape: readonly number[], stride: readonly number[], outStride: readonly number[], readonly itemSize: number, out: Uint8Array) {
    this.#shape = shape;
    this.#stride = stride;
    this.#outStride = outStride;
    let q = shape.length - 1; // scanned dim: the largest stride (ties: the innermost)
    for (let d = shape.length - 1; d >= 0; d--) if ((stride[d] ?? 0) > (stride[q] ?? 0)) q = d;
    this.#q = q;
    // Buffers are freshly allocated (offset 0): copy words of 4, 2 or 1 bytes, k per element.
    this.#width = itemSize % 4 === 0 ? 4 : itemSize % 2 === 0 ? 2 : 1;
    this.#k = itemSize / this.#width;
    this.#out = this.#words(out);
  }

  #words(b: Uint8Array): Uint32Array | Uint16Array | Uint8Array {
    const w = this.#width;
    return w === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.length >> 2) : w === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.length >> 1) : b;
  }

  /**
   * Copy every element of the block that lies in `src`: `base` is the storage element of the block's index 0
   * counted from `src`'s first element (negative when the block starts before it); `outBase` its output element.
   */
  copy(src: Uint8Array, base: number, outBase: number): void {
    const shape = this.#shape;
    const stride = this.#stride;
    const outStride = this.#outStride;
    const nd = shape.length;
    const q = this.#q;
    const k = this.#k;
    const sa = this.#words(src);
    const oa = this.#out;
    const count = src.length / this.itemSize;
    const n = shape[q] ?? 1;
    const sq = stride[q] ?? 0;
    const oq = (outStride[q] ?? 1) * k;
    const step = sq * k;
    const idx = new Array<number>(nd).fill(0);
    let b = base; // storage element (relative to src) of the line's index 0
    let ob = outBase; // output element of the line's index 0
    for (;;) {
      let i0 = 0;
      let i1 = n;
      if (sq === 0) {
        if (b < 0 || b >= count) i1 = 0;
      } else {
        i0 = b >= 0 ? 0 : Math.ceil(-b / sq);
        i1 = b >= count ? 0 : Math.min(n, Math.floor((count - 1 - b) / sq) + 1);
      }
      let from = (b + i0 * sq) * k;
      let w = ob * k + i0 * oq;
      if (k === 1) {
        for (let i = i0; i < i1; i++, from += step, w += oq) oa[w] = sa[from] as number;
      } else {
        for (let i = i0; i < i1; i++, from += step, w += oq) for (let j = 0; j < k; j++) oa[w + j] = sa[from + j] as number;
      }
      let d = nd - 1;
      for (; d >= 0; d--) {
        if (d === q) continue;
        const i = (idx[d] ?? 0) + 1;
        const st = stride[d] ?? 0;
        const os = outStride[d] ?? 1;
        if (i < (shape[d] ?? 1)) {
          idx[d] = i;
          b += st;
          ob += os;
          break;
        }
        b -= (i - 1) * st;
        ob -= (i - 1) * os;
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }
}

/** An odometer over some dims: the current index's storage and output offsets (elements). */
export class Odometer {
  readonly #idx: number[];
  storage = 0;
  output = 0;
  done: boolean;
  constructor(private readonly shape: readonly number[], private readonly stride: readonly number[], private readonly outStride: readonly number[]) {
    this.#idx = shape.map(() => 0);
    this.done = shape.some((n) => n === 0);
  }
  next(): void {
    for (let d = this.shape.length - 1; d >= 0; d--) {
      const i = (this.#idx[d] ?? 0) + 1;
      const st = this.stride[d] ?? 0;
      const os = this.outStride[d] ?? 0;
      if (i < (this.shape[d] ?? 1)) {
        this.#idx[d] = i;
        this.storage += st;
        this.output += os;
        return;
      }
      this.storage -= (i - 1) * st;
      this.output -= (i - 1) * os;
      this.#idx[d] = 0;
    }
    this.done = true;
  }
}

