/**
 * A tensor as a strided view of a storage: bounds checks in exact (bigint) arithmetic, and the runs of
 * elements that are contiguous in the storage, in logical row-major order.
 */
import { TruecastError } from "../../errors.js";

/** What a view needs to be described; a subset of the rebuilt tensor descriptor. */
export interface StridedView {
  readonly dtype: string;
  readonly itemSize: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly storageOffset: number;
  readonly storage: { readonly key: string; readonly byteLength: number };
}

export function describe(xs: readonly number[]): string {
  return `[${xs.join(", ")}]`;
}

/** Number of elements, exactly. */
export function numelOf(shape: readonly number[]): bigint {
  return shape.reduce((p, d) => p * BigInt(d), 1n);
}

/**
 * Refuse a view that reaches outside its storage or whose size cannot be a JS number.
 * `tensorName` is given when known (after unpickling); inside the unpickler the storage key identifies it.
 */
export function checkView(params: { tensor: StridedView; fileName: string; tensorName?: string }): void {
  const { tensor: t, fileName } = params;
  const who = params.tensorName !== undefined ? `tensor "${params.tensorName}"` : `a tensor of storage "${t.storage.key}"`;
  const fail = (what: string): TruecastError =>
    new TruecastError("TORCH_INVALID", `${fileName}: ${who} ${what}; the checkpoint is damaged or was not written by torch.save`);
  if (t.shape.length !== t.stride.length) {
    throw fail(`has size ${describe(t.shape)} but stride ${describe(t.stride)} (different lengths)`);
  }
  const numel = numelOf(t.shape);
  const bytes = numel * BigInt(t.itemSize);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`of size ${describe(t.shape)} is too large to address`);
  if (numel === 0n) return;
  let last = BigInt(t.storageOffset);
  for (let i = 0; i < t.shape.length; i++) last += BigInt((t.shape[i] ?? 1) - 1) * BigInt(t.stride[i] ?? 0);
  const storageElems = BigInt(t.storage.byteLength) / BigInt(t.itemSize);
  if (last >= storageElems) {
    throw fail(
      `(size ${describe(t.shape)}, stride ${describe(t.stride)}, storage offset ${t.storageOffset}) reaches element ${last} ` +
        `of a storage that holds ${storageElems} ${t.dtype} elements`,
    );
  }
}

/** True when the view's elements are consecutive in the storage, in row-major order (from its storage offset). */
export function isContiguous(t: Pick<StridedView, "shape" | "stride">): boolean {
  let expected = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    const size = t.shape[i] ?? 1;
    if (size === 1) continue;
    if (t.stride[i] !== expected) return false;
    expected *= size;
  }
  return true;
}

/** True when the view is exactly its whole storage, from element 0. */
export function coversStorage(t: StridedView): boolean {
  return t.storageOffset === 0 && isContiguous(t) && numelOf(t.shape) * BigInt(t.itemSize) === BigInt(t.storage.byteLength);
}

/**
 * The view as runs: `run` consecutive storage elements each, one run per index of the `outer` dims
 * (row-major), starting at `storageOffset + Σ index·stride`.
 */
export interface RunLayout {
  readonly run: number;
  readonly outerShape: readonly number[];
  readonly outerStride: readonly number[];
}

export function runLayout(t: Pick<StridedView, "shape" | "stride">): RunLayout {
  const shape: number[] = [];
  const stride: number[] = [];
  for (let i = 0; i < t.shape.length; i++) {
    if ((t.shape[i] ?? 1) === 1) continue;
    shape.push(t.shape[i] ?? 1);
    stride.push(t.stride[i] ?? 0);
  }
  let run = 1;
  let k = shape.length;
  while (k > 0 && stride[k - 1] === run) {
    run *= shape[k - 1] ?? 1;
    k--;
  }
  return { run, outerShape: shape.slice(0, k), outerStride: stride.slice(0, k) };
}

/** Storage element index where run number `r` starts. */
export function runStart(layout: RunLayout, storageOffset: number, r: number): number {
  let start = storageOffset;
  let rest = r;
  for (let d = layout.outerShape.length - 1; d >= 0; d--) {
    const size = layout.outerShape[d] ?? 1;
    start += (rest % size) * (layout.outerStride[d] ?? 0);
    rest = Math.floor(rest / size);
  }
  return start;
}
