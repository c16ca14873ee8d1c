/**
 * The merge's hot loops in WebAssembly SIMD (4 float32 lanes), driven from JavaScript; the module itself is
 * assembled in wasm-module.ts. Two kernels, both giving the bits of the pure-JS kernel (kernel.ts), only faster:
 * - {@link SimdKernel.applyDeltaRows}: any base dtype; `acc = L·R` in SIMD (the last `cols % 4` columns and the
 *   `W + fround(acc · scale)` step in JavaScript, with the same rounding).
 * - {@link SimdKernel.mergeBf16Rows}: a bfloat16 base with `cols % 16 = 0` (every real model): one pass per row that
 *   decodes the base, adds the delta, flags rows with non-finite (or, for bf16 output, zero or subnormal) results,
 *   and for bf16 output also rounds, counts and computes the cast report, so the float32 values are never walked
 *   again in JavaScript. Flagged rows are finished by the caller with the general code (merge-rows.ts).
 * Where WebAssembly SIMD is unavailable, callers use the JS kernel.
 */
import { applyDeltaRows, type DeltaRowsParams } from "./kernel.js";
import { moduleBytes } from "./wasm-module.js";

const PAGE = 65536;

/** The few WebAssembly APIs used here (the project's TypeScript libs declare no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

/** {@link DeltaRowsParams} for a bfloat16 base: the base bits instead of pre-decoded values. */
export interface Bf16RowsParams extends Omit<DeltaRowsParams, "scratch"> {
  /** The block's base bits (same indexing as `values`, which receives `W + delta` and need not be decoded first). */
  readonly baseBits: Uint16Array;
  /** Results with `|v| ≥ limit` (and NaN) flag their row: the smallest float32 that overflows the output dtype. */
  readonly limit: number;
  /**
   * bfloat16 output: the block's output bytes (same indexing as `values`, 2 bytes an element), written for every
   * row; then zeros and subnormals flag their row too, and the other rows' cast report comes back, and `values`
   * and `touched` are written only for the flagged rows (the others are finished). Null otherwise.
   */
  readonly out: Uint8Array | null;
}

export interface Bf16RowsResult {
  readonly flagged: number[];
  readonly changed: number;
  readonly tooSmall: number;
  /** With `out`: the float32 → bfloat16 rounding of the rows not flagged (elements, changed, error maxima). */
  readonly cast: { readonly elements: number; readonly changed: number; readonly maxAbsError: number; readonly maxRelError: number };
}

export interface SimdKernel {
  applyDeltaRows(p: DeltaRowsParams): void;
  /**
   * Decode, update and flag in one pass (`cols` a positive multiple of 16, `rank` ≥ 1); the bits are those of
   * decoding with widen.ts and then {@link applyDeltaRows}. Returns the absolute rows holding a flagged result, and
   * over the other rows the counts of {@link countChanges} for a bfloat16 output (elements whose rounded bits differ
   * from the base's; elements with a non-zero delta whose rounded bits do not).
   */
  mergeBf16Rows(p: Bf16RowsParams): Bf16RowsResult;
}

/** A SIMD kernel with its own memory (one per thread), or null where WebAssembly SIMD is not available. */
export function createSimdKernel(): SimdKernel | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  let exports: Record<string, unknown>;
  try {
    exports = new wasm.Instance(new wasm.Module(moduleBytes())).exports;
  } catch {
    return null; // no SIMD support: the module does not validate
  }
  const memory = exports.mem as WasmMemory;
  const row = exports.row as (scratch: number, right: number, left: number, rank: number, bytes: number, stride: number) => void;
  const rows4 = exports.rows4 as typeof row;
  const epilogue = exports.bf16Epilogue as (scratch: number, base: number, vals: number, touched: number, bytes: number, scale: number, limit: number, counts: number, minNormal: number, out: number) => number;
  return {
    mergeBf16Rows(p: Bf16RowsParams): Bf16RowsResult {
      const { rank, cols } = p;
      if (cols <= 0 || cols % 16 !== 0 || rank < 1) throw new Error(`mergeBf16Rows: cols ${cols} must be a positive multiple of 16 and rank ${rank} ≥ 1`);
      const nRows = p.rowEnd - p.rowStart;
      // memory: scratch (4 rows of cols f32) | base row (cols bf16) | merged row (cols f32) | touched row (cols
      // bytes) | output row (cols bf16) | counts (80 bytes) | left rows | right
      const baseAt = 4 * cols * 4;
      const valsAt = baseAt + cols * 2;
      const touchedAt = valsAt + cols * 4;
      const outAt = touchedAt + cols;
      const countsAt = outAt + cols * 2;
      const leftAt = countsAt + 80;
      const rightAt = leftAt + nRows * rank * 4;
      const need = rightAt + rank * cols * 4;
      if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE));
      const heap = new Float32Array(memory.buffer);
      const heap16 = new Uint16Array(memory.buffer);
      const heap8 = new Uint8Array(memory.buffer);
      heap.set(p.left.subarray(p.rowStart * rank, p.rowEnd * rank), leftAt / 4);
      // rows4 wants each full group of four rows of L interleaved (L[0,k], L[1,k], L[2,k], L[3,k] for each k); the
      // last nRows % 4 rows, which `row` takes one by one, stay as they are
      for (let g = 0; g + 4 <= nRows; g += 4) {
        const to = leftAt / 4 + g * rank;
        for (let m = 0; m < 4; m++) {
          const from = (p.rowStart + g + m) * rank;
          for (let k = 0; k < rank; k++) heap[to + 4 * k + m] = p.left[from + k] as number;
        }
      }
      heap.set(p.right.subarray(0, rank * cols), rightAt / 4);
      const vals = heap.subarray(valsAt / 4, valsAt / 4 + cols);
      const touchedRow = heap8.subarray(touchedAt, touchedAt + cols);
      const counts = new Int32Array(memory.buffer, countsAt, 12);
      const absErrors = new Float32Array(memory.buffer, countsAt + 48, 4);
      const relErrors = new Float64Array(memory.buffer, countsAt + 64, 2);
      const outRow = heap8.subarray(outAt, outAt + cols * 2);
      const minNormal = p.out === null ? 0 : 2 ** -126;
      const flagged: number[] = [];
      let changed = 0;
      let tooSmall = 0;
      const cast = { elements: 0, changed: 0, maxAbsError: 0, maxRelError: 0 };
      for (let i = p.rowStart; i < p.rowEnd; i++) {
        const at = (i - p.blockStartRow) * cols;
        heap16.set(p.baseBits.subarray(at, at + cols), baseAt / 2);
        // the products of four rows at a time (the last rows of the range one by one), then each row's epilogue
        const group = (i - p.rowStart) % 4;
        if (group === 0 && p.rowEnd - i >= 4) rows4(0, rightAt, leftAt + (i - p.rowStart) * rank * 4, rank, cols * 4, cols * 4);
        const grouped = p.rowEnd - (i - group) >= 4;
        if (!grouped) row(0, rightAt, leftAt + (i - p.rowStart) * rank * 4, rank, cols * 4, cols * 4);
        const scratchAt = grouped ? group * cols * 4 : 0;
        // the relative error divides only where an element can raise the maximum of the rows kept so far
        relErrors[0] = relErrors[1] = cast.maxRelError;
        const ok = epilogue(scratchAt, baseAt, valsAt, touchedAt, cols * 4, p.scale, p.limit, countsAt, minNormal, outAt) !== 0;
        if (!ok) {
          flagged.push(i);
        } else {
          changed += (counts[0] as number) + (counts[1] as number) + (counts[2] as number) + (counts[3] as number);
          tooSmall += (counts[4] as number) + (counts[5] as number) + (counts[6] as number) + (counts[7] as number);
          cast.elements += cols;
          cast.changed += (counts[8] as number) + (counts[9] as number) + (counts[10] as number) + (counts[11] as number);
          for (let q = 0; q < 4; q++) if ((absErrors[q] as number) > cast.maxAbsError) cast.maxAbsError = absErrors[q] as number;
          for (let q = 0; q < 2; q++) if ((relErrors[q] as number) > cast.maxRelError) cast.maxRelError = relErrors[q] as number;
        }
        // With bf16 output, a row that is ok is finished here: its float32 values and flags are not needed again.
        if (p.out === null || !ok) {
          p.values.set(vals, at);
          p.touched.set(touchedRow, at);
        }
        p.out?.set(outRow, at * 2);
      }
      return { flagged, changed, tooSmall, cast };
    },
    applyDeltaRows(p: DeltaRowsParams): void {
      const { rank, cols, scale, values, touched } = p;
      const nRows = p.rowEnd - p.rowStart;
      const cols4 = cols & ~3;
      // memory: scratch (cols floats) | left rows of this range (nRows × rank) | right (rank × cols)
      const leftAt = cols * 4;
      const rightAt = leftAt + nRows * rank * 4;
      const need = rightAt + rank * cols * 4;
      if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE));
      const heap = new Float32Array(memory.buffer);
      heap.set(p.left.subarray(p.rowStart * rank, p.rowEnd * rank), leftAt / 4);
      heap.set(p.right.subarray(0, rank * cols), rightAt / 4);
      const scratch = heap.subarray(0, cols);
      const { left, right } = p;
      for (let i = p.rowStart; i < p.rowEnd; i++) {
        const leftRow = leftAt + (i - p.rowStart) * rank * 4;
        if (rank > 0 && cols4 > 0) row(0, rightAt, leftRow, rank, cols4 * 4, cols * 4);
        for (let j = cols4; j < cols; j++) {
          let acc = Math.fround((left[i * rank] as number) * (right[j] as number));
          for (let k = 1; k < rank; k++) acc = Math.fround(acc + Math.fround((left[i * rank + k] as number) * (right[k * cols + j] as number)));
          scratch[j] = acc;
        }
        if (rank === 0) scratch.fill(0);
        const base = (i - p.blockStartRow) * cols;
        for (let j = 0; j < cols; j++) {
          const d = Math.fround((scratch[j] as number) * scale);
          touched[base + j] = d !== 0 ? 1 : 0;
          values[base + j] = (values[base + j] as number) + d;
        }
      }
    },
  };
}

let threadKernelFn: ((p: DeltaRowsParams) => void) | null = null;
let threadSimd: SimdKernel | null | undefined;

/** This thread's SIMD kernel, or null where WebAssembly SIMD is not available. */
export function threadSimdKernel(): SimdKernel | null {
  if (threadSimd === undefined) threadSimd = createSimdKernel();
  return threadSimd;
}

/** The fastest kernel for this thread: the SIMD one where WebAssembly SIMD works, else the JS one. Same bits. */
export function threadKernel(): (p: DeltaRowsParams) => void {
  if (threadKernelFn === null) {
    const simd = threadSimdKernel();
    threadKernelFn = simd === null ? applyDeltaRows : (p) => simd.applyDeltaRows(p);
  }
  return threadKernelFn;
}
