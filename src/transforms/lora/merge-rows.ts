/**
 * The whole merge of a range of rows, as one thread runs it: decode the base rows to float32, add the LoRA
 * delta (simd-kernel.ts / kernel.ts), apply DoRA, check for non-finite results, round once into the output
 * dtype, and count what changed. Workers run it on their share of a block; small blocks run it inline. Every
 * step is element- or row-local, so the bytes and counts do not depend on how a block is split.
 *
 * A bfloat16 base (with `cols % 16 = 0`) takes the fused SIMD pass (simd-kernel.ts `mergeBf16Rows`): decode, delta
 * and overflow flags in one pass, and for bfloat16 output also the rounding, the counts and the cast report. Only
 * the rows it flags (a NaN, ±inf, overflow, zero or subnormal somewhere in the row) go through the general code.
 */
import { createEncoder, decodeToFloat32, type CastReport } from "../../dtype/cast.js";
import { dtypeSize, type FloatDType } from "../../dtype/table.js";
import { threadKernel, threadSimdKernel, type Bf16RowsResult } from "./simd-kernel.js";
import type { DecodableDType } from "./tensor-io.js";
import type { DeltaRowsParams } from "./kernel.js";

/** Smallest float32 magnitude that rounds to infinity in each output dtype (round-to-nearest-even). */
const OVERFLOW_AT: Record<FloatDType, number> = { F16: 65520, BF16: 2 ** 128 - 2 ** 119, F32: Infinity, F64: Infinity };

/** The factors and row range as kernel.ts's {@link DeltaRowsParams} has them, plus the block's bytes. */
export interface MergeRowsTask
  extends Pick<DeltaRowsParams, "left" | "right" | "rank" | "cols" | "scale" | "blockStartRow" | "rowStart" | "rowEnd"> {
  /** The block's base bytes (little-endian) and their dtype. */
  readonly baseBytes: Uint8Array;
  readonly baseDtype: DecodableDType;
  /** The block's float32 values (out: `W + delta`, after DoRA) and "delta is non-zero" flags. */
  readonly values: Float32Array;
  readonly touched: Uint8Array;
  /** DoRA over rows: the magnitude of every row of the weight; or null. */
  readonly rowMagnitude: Float32Array | null;
  /** DoRA over columns: `fround(m / ‖column‖₂)` per column; or null. */
  readonly colFactor: Float32Array | null;
  /** The block's output bytes and their dtype; null to stop after DoRA (the first pass of column DoRA). */
  readonly out: Uint8Array | null;
  readonly outDtype: FloatDType | null;
}

export interface MergeRowsResult {
  changed: number;
  tooSmall: number;
  cast: CastReport | null;
  /** The first element (absolute index in the weight) that became NaN or ±inf where the base was finite. */
  nonFinite: { readonly at: number; readonly value: number; readonly base: number } | null;
}

/** Elements whose `size`-byte patterns differ, and unchanged elements whose delta was non-zero. */
export function countChanges(out: Uint8Array, ref: Uint8Array, touched: Uint8Array, size: number): { changed: number; tooSmall: number } {
  let changed = 0;
  let tooSmall = 0;
  const n = touched.length;
  if (size === 2 && out.byteOffset % 2 === 0 && ref.byteOffset % 2 === 0) {
    const a = new Uint16Array(out.buffer, out.byteOffset, n);
    const b = new Uint16Array(ref.buffer, ref.byteOffset, n);
    for (let i = 0; i < n; i++) {
      if (a[i] !== b[i]) changed++;
      else if (touched[i] === 1) tooSmall++;
    }
    return { changed, tooSmall };
  }
  for (let i = 0, at = 0; i < n; i++, at += size) {
    let same = true;
    for (let k = 0; k < size; k++) if (out[at + k] !== ref[at + k]) same = false;
    if (!same) changed++;
    else if (touched[i] === 1) tooSmall++;
  }
  return { changed, tooSmall };
}

/** Cast reports of parts of one tensor combined (counts add, maxima take the largest). */
export function combineCastReports(a: CastReport | null, b: CastReport | null): CastReport | null {
  if (a === null) return b;
  if (b === null) return a;
  return {
    from: a.from, to: a.to, elements: a.elements + b.elements, changed: a.changed + b.changed,
    toInfinity: a.toInfinity + b.toInfinity, toZero: a.toZero + b.toZero, toSubnormal: a.toSubnormal + b.toSubnormal,
    nan: a.nan + b.nan, maxAbsError: Math.max(a.maxAbsError, b.maxAbsError), maxRelError: Math.max(a.maxRelError, b.maxRelError),
  };
}

/** Run the merge on rows `[rowStart, rowEnd)` of a block (see the file comment). */
export function mergeRows(t: MergeRowsTask): MergeRowsResult {
  const { cols } = t;
  const first = (t.rowStart - t.blockStartRow) * cols;
  const n = (t.rowEnd - t.rowStart) * cols;
  const inSize = dtypeSize(t.baseDtype);
  const baseBytes = t.baseBytes.subarray(first * inSize, (first + n) * inSize);
  const simd = t.baseDtype === "BF16" && cols % 16 === 0 && t.rank >= 1 && t.baseBytes.byteOffset % 2 === 0 ? threadSimdKernel() : null;
  const overflowAt = t.outDtype === null ? Infinity : OVERFLOW_AT[t.outDtype];
  // Rows that may hold a non-finite result; null: every row must be checked.
  let suspects: number[] | null = null;
  // Counts over the rows not in `suspects`, when the fused pass could count them (bf16 in and out, no DoRA).
  let fused: Bf16RowsResult | null = null;
  let decoded: Float32Array | null = null;
  const delta = {
    left: t.left, right: t.right, rank: t.rank, cols, scale: t.scale, blockStartRow: t.blockStartRow,
    rowStart: t.rowStart, rowEnd: t.rowEnd, values: t.values, touched: t.touched,
  };
  if (simd !== null) {
    // one pass: decode, update and flag (the common bfloat16 case); the base is decoded again only if needed
    const bits = new Uint16Array(t.baseBytes.buffer, t.baseBytes.byteOffset, t.baseBytes.byteLength / 2);
    const noDora = t.rowMagnitude === null && t.colFactor === null;
    const out = noDora && t.outDtype === "BF16" ? t.out : null;
    const r = simd.mergeBf16Rows({ ...delta, baseBits: bits, limit: overflowAt, out });
    if (noDora) suspects = r.flagged;
    if (out !== null) fused = r;
  } else {
    decoded = decodeToFloat32(t.baseDtype, baseBytes);
    t.values.set(decoded, first);
    threadKernel()({ ...delta, scratch: new Float32Array(cols) });
  }
  const baseValuesOf = (): Float32Array => (decoded ??= decodeToFloat32(t.baseDtype, baseBytes));
  const v = t.values.subarray(first, first + n);
  if (t.rowMagnitude !== null) {
    // DoRA over rows: each row scaled by fround(m[row] / fround(‖row‖₂)), the norm summed in double
    for (let i = 0; i < n; i += cols) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += (v[i + j] as number) ** 2;
      const factor = Math.fround((t.rowMagnitude[t.rowStart + i / cols] as number) / Math.fround(Math.sqrt(s)));
      for (let j = 0; j < cols; j++) v[i + j] = factor * (v[i + j] as number);
    }
  }
  if (t.colFactor !== null) {
    for (let i = 0; i < n; i += cols) {
      for (let j = 0; j < cols; j++) v[i + j] = (t.colFactor[j] as number) * (v[i + j] as number);
    }
  }
  const result: MergeRowsResult = { changed: 0, tooSmall: 0, cast: null, nonFinite: null };
  if (t.out === null || t.outDtype === null) return result;
  const ranges = suspects === null ? [[0, n]] : suspects.map((row) => [(row - t.rowStart) * cols, (row - t.rowStart + 1) * cols]);
  for (const [from, to] of ranges as [number, number][]) {
    for (let i = from; i < to; i++) {
      const x = v[i] as number;
      if (x - x !== 0 || Math.abs(x) >= overflowAt) {
        const w = baseValuesOf()[i] as number;
        if (w - w === 0) {
          result.nonFinite = { at: t.rowStart * cols + i, value: x, base: w };
          return result;
        }
      }
    }
  }
  const outSize = dtypeSize(t.outDtype);
  const encoder = createEncoder(t.outDtype);
  const touched = t.touched.subarray(first, first + n);
  if (fused !== null && suspects !== null) {
    // the fused pass wrote and counted every row but the suspects: encode and count those here
    result.changed = fused.changed;
    result.tooSmall = fused.tooSmall;
    for (const row of suspects) {
      const [from, to] = [(row - t.rowStart) * cols, (row - t.rowStart + 1) * cols];
      const encoded = encoder.encode(v.subarray(from, to));
      t.out.set(encoded, (first + from) * outSize);
      const c = countChanges(encoded, baseBytes.subarray(from * outSize, to * outSize), touched.subarray(from, to), outSize);
      result.changed += c.changed;
      result.tooSmall += c.tooSmall;
    }
    const fast: CastReport = { from: "F32", to: "BF16", toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 0, ...fused.cast };
    result.cast = suspects.length === 0 ? fast : combineCastReports(fast, encoder.report());
    return result;
  }
  const encoded = encoder.encode(v);
  t.out.set(encoded, first * outSize);
  const ref = t.outDtype === t.baseDtype ? baseBytes : createEncoder(t.outDtype).encode(baseValuesOf());
  {
    const counted = countChanges(encoded, ref, touched, outSize);
    result.changed = counted.changed;
    result.tooSmall = counted.tooSmall;
  }
  result.cast = encoder.report();
  return result;
}
