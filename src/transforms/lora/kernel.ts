/**
 * The LoRA update kernel: a rank-r update of a block of rows, in float32, written as tight typed-array loops.
 * It is the single source of the arithmetic: the worker pool runs exactly this function on row ranges, and the
 * tests use it as the single-threaded reference.
 *
 * For a weight stored as `rows × cols` (row-major), the update is `W + scale · (L @ R)` with
 * `L: rows × rank` and `R: rank × cols`:
 * - Linear (`W: [out, in]`): L = lora_B `[out, r]`, R = lora_A `[r, in]`.
 * - Conv1D / fan_in_fan_out (`W: [in, out]`) and Embedding (`W: [num, dim]`): the delta is `(B @ A)ᵀ = Aᵀ @ Bᵀ`,
 *   so L = Aᵀ and R = Bᵀ (transposed once per module by the caller, see {@link transposeF32}).
 *
 * Rounding, matching PyTorch's float32 arithmetic step by step:
 * 1. `acc[j] = Σ_k L[i,k] · R[k,j]`, summed in increasing k, each partial sum rounded to float32
 *    (the product of two float32 values is exact in a double, so every step is one float32 rounding, like a
 *    fused multiply-add). BLAS may order the sum differently; that is the only source of difference.
 * 2. `d = fround(acc[j] · scale)` (torch multiplies a float32 tensor by a Python float in float32).
 * 3. `W[i,j] = fround(W[i,j] + d)` (the float32 sum that is then rounded once into the output dtype).
 */

/** One row range of a rank-r update, on views the caller (or a worker) owns. */
export interface DeltaRowsParams {
  /** `rows × rank`, row-major, for the whole weight (row indices are absolute). */
  readonly left: Float32Array;
  /** `rank × cols`, row-major. */
  readonly right: Float32Array;
  readonly rank: number;
  readonly cols: number;
  /** The LoRA scaling, already rounded to float32. */
  readonly scale: number;
  /** Absolute row index of `values`' first row. */
  readonly blockStartRow: number;
  /** Absolute row range to update, within the block. */
  readonly rowStart: number;
  readonly rowEnd: number;
  /** The block's base values in float32 on entry, `W + delta` (rounded to float32) on exit. */
  readonly values: Float32Array;
  /** Per element of the block: set to 1 where the delta is non-zero, 0 elsewhere. */
  readonly touched: Uint8Array;
  /** Scratch row of at least `cols` floats, private to the caller. */
  readonly scratch: Float32Array;
}

/** Add `scale · (L @ R)` to rows `[rowStart, rowEnd)` of a block (see the file comment for the rounding). */
export function applyDeltaRows(p: DeltaRowsParams): void {
  const { left, right, rank, cols, scale, values, touched, scratch } = p;
  for (let i = p.rowStart; i < p.rowEnd; i++) {
    const leftRow = i * rank;
    if (rank === 0) scratch.fill(0, 0, cols);
    for (let k = 0; k < rank; k++) {
      const l = left[leftRow + k] as number;
      const rightRow = k * cols;
      if (k === 0) {
        // the first product starts the sum (not 0 + product), so a -0 product stays -0 as in BLAS
        for (let j = 0; j < cols; j++) scratch[j] = l * (right[rightRow + j] as number);
      } else {
        for (let j = 0; j < cols; j++) scratch[j] = (scratch[j] as number) + l * (right[rightRow + j] as number);
      }
    }
    const base = (i - p.blockStartRow) * cols;
    for (let j = 0; j < cols; j++) {
      const d = Math.fround((scratch[j] as number) * scale);
      touched[base + j] = d !== 0 ? 1 : 0;
      values[base + j] = (values[base + j] as number) + d;
    }
  }
}

/** `rows × cols` → `cols × rows`, float32. */
export function transposeF32(src: Float32Array, rows: number, cols: number, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) dst[j * rows + i] = src[row + j] as number;
  }
  return dst;
}
