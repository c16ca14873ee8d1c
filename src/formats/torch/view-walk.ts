/**
 * A walk over the elements of a strided block that lie in one slice of the storage, in storage order, used to pack
 * them into a dense run (first pass of a spilled view) and to unpack that run into the block's row-major output
 * (second pass). Both passes make the same walk, so the packed run needs no indices: its n-th element is the walk's
 * n-th. Dims are visited largest stride outermost and each dim's in-slice indices are found by division, so the
 * walk costs the elements it copies plus one step per line that meets the slice; the two innermost dims are walked
 * in tiles so that a transpose stays within a few cache lines on both sides.
 */

/** A block of a view: shape, storage strides and row-major output strides, in elements. */
export interface BlockDims {
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly outStride: readonly number[];
}

type Words = Uint32Array | Uint16Array | Uint8Array;

/** Indices of the innermost dim walked at a time for each index of the dim above it (see `#walk`). */
const TILE = 128;

/** Elements `dims` spans in the storage (1 + Σ (n − 1) × stride). */
export function extentOf(dims: Pick<BlockDims, "shape" | "stride">): number {
  let e = 1;
  for (let d = 0; d < dims.shape.length; d++) e += ((dims.shape[d] ?? 1) - 1) * (dims.stride[d] ?? 0);
  return e;
}

/**
 * Whether no two elements of `dims` share a storage element: sorted by stride, each dim steps over all the
 * smaller-stride dims span (true of every permute, transpose, slice and step of a contiguous tensor).
 */
export function isInjective(dims: Pick<BlockDims, "shape" | "stride">): boolean {
  const order = dims.shape.map((_, d) => d).filter((d) => (dims.shape[d] ?? 1) > 1);
  order.sort((a, b) => (dims.stride[a] ?? 0) - (dims.stride[b] ?? 0));
  let inner = 1;
  for (const d of order) {
    const s = dims.stride[d] ?? 0;
    if (s < inner) return false;
    inner += ((dims.shape[d] ?? 1) - 1) * s;
  }
  return true;
}

export class SliceWalk {
  readonly #shape: number[];
  readonly #stride: number[];
  /** Output strides in words. */
  readonly #outStride: number[];
  /** #ext[l]: storage elements spanned by the dims from level l inward. */
  readonly #ext: number[];
  readonly #k: number;
  readonly #width: 1 | 2 | 4;
  // State of one walk.
  #src: Words = new Uint8Array(0);
  #dst: Words = new Uint8Array(0);
  #count = 0;
  #n = 0;
  #pack = true;

  constructor(dims: BlockDims, readonly itemSize: number) {
    // Size-1 dims change nothing (a block of one row): left out, so the innermost loop runs along a real dim.
    const order = dims.shape.map((_, d) => d).filter((d) => (dims.shape[d] ?? 1) !== 1);
    if (order.length === 0) order.push(0);
    order.sort((a, b) => (dims.stride[b] ?? 0) - (dims.stride[a] ?? 0) || a - b);
    this.#width = itemSize % 4 === 0 ? 4 : itemSize % 2 === 0 ? 2 : 1;
    this.#k = itemSize / this.#width;
    this.#shape = order.map((d) => dims.shape[d] ?? 1);
    this.#stride = order.map((d) => dims.stride[d] ?? 0);
    this.#outStride = order.map((d) => (dims.outStride[d] ?? 1) * this.#k);
    this.#ext = new Array<number>(order.length + 1).fill(1);
    for (let l = order.length - 1; l >= 0; l--) this.#ext[l] = (this.#ext[l + 1] ?? 1) + ((this.#shape[l] ?? 1) - 1) * (this.#stride[l] ?? 0);
  }

  #words(b: Uint8Array): Words {
    const w = this.#width;
    return w === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.length >> 2) : w === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.length >> 1) : b;
  }

  /**
   * Copy the block's elements that lie in the storage slice `src` (`base`: the storage element of the block's index
   * 0, counted from the slice's first element) into `dst` from element `at` on, in walk order; returns how many.
   */
  pack(src: Uint8Array, base: number, dst: Uint8Array, at: number): number {
    this.#start(src, src.length / this.itemSize, dst, at, true);
    this.#walk(0, base, 0);
    return this.#n / this.#k - at;
  }

  /**
   * The inverse: `packed` holds, in walk order, the block's elements that lie in a storage slice of `count` elements
   * (`base` as for {@link pack}); put each at its place in the row-major block `out`.
   */
  unpack(packed: Uint8Array, count: number, base: number, out: Uint8Array): void {
    this.#start(packed, count, out, 0, false);
    this.#walk(0, base, 0);
  }

  #start(src: Uint8Array, count: number, dst: Uint8Array, at: number, pack: boolean): void {
    this.#src = this.#words(src);
    this.#dst = this.#words(dst);
    this.#count = count;
    this.#n = at * this.#k;
    this.#pack = pack;
  }

  #walk(l: number, b: number, o: number): void {
    const n = this.#shape[l] ?? 1;
    const s = this.#stride[l] ?? 0;
    const e = this.#ext[l + 1] ?? 1;
    const last = this.#count - 1;
    let i0 = 0;
    let i1 = n;
    if (s === 0) {
      if (b + e - 1 < 0 || b > last) return;
    } else {
      i0 = Math.max(0, Math.ceil((1 - e - b) / s));
      i1 = Math.min(n, Math.floor((last - b) / s) + 1);
    }
    const os = this.#outStride[l] ?? 0;
    const nd = this.#shape.length;
    if (l < nd - 2) {
      for (let i = i0; i < i1; i++) this.#walk(l + 1, b + i * s, o + i * os);
    } else if (l === nd - 1) {
      this.#run(b, o, 0, n);
    } else {
      // The two innermost dims in tiles of TILE indices of the inner one: a transpose then reads and writes a few
      // dozen cache lines at a time instead of one line per element on one side.
      const nInner = this.#shape[l + 1] ?? 1;
      for (let t = 0; t < nInner; t += TILE) {
        const end = Math.min(nInner, t + TILE);
        for (let i = i0; i < i1; i++) this.#run(b + i * s, o + i * os, t, end);
      }
    }
  }

  /** The innermost dim's indices in [from, to) whose elements lie in the slice (line start `b`, output `o`). */
  #run(b: number, o: number, from: number, to: number): void {
    const l = this.#shape.length - 1;
    const s = this.#stride[l] ?? 0;
    const os = this.#outStride[l] ?? 0;
    const last = this.#count - 1;
    let i0 = from;
    let i1 = to;
    if (s === 0) {
      if (b < 0 || b > last) return;
    } else {
      i0 = Math.max(from, Math.ceil(-b / s));
      i1 = Math.min(to, Math.floor((last - b) / s) + 1);
    }
    const k = this.#k;
    const src = this.#src;
    const dst = this.#dst;
    const step = s * k;
    let nAt = this.#n;
    if (this.#pack) {
      let at = (b + i0 * s) * k;
      if (k === 1) for (let i = i0; i < i1; i++, at += step) dst[nAt++] = src[at] as number;
      else for (let i = i0; i < i1; i++, at += step) for (let j = 0; j < k; j++) dst[nAt++] = src[at + j] as number;
    } else {
      let w = o + i0 * os;
      if (k === 1) for (let i = i0; i < i1; i++, w += os) dst[w] = src[nAt++] as number;
      else for (let i = i0; i < i1; i++, w += os) for (let j = 0; j < k; j++) dst[w + j] = src[nAt++] as number;
    }
    this.#n = nAt;
  }
}
