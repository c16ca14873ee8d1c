/**
 * The LoRA update kernel: a rank-r update of a block of rows, in float32, written as tight typed-array loops.
 * It defines the arithmetic: the WebAssembly SIMD kernel (simd-kernel.ts) that workers run reproduces it bit for
 * bit (tested), this one runs where SIMD is missing, and the tests use it as the single-threaded reference.
 *
 * For a weight stored as `rows × cols` (row-major), the update is `W + scale · (L @ R)` with
 * `L: rows × rank` and `R: rank × cols`:
 * - Linear (`W: [out, in]`): L = lora_B `[out, r]`, R = lora_A `[r, in]`.
 * - Conv1D / fan_in_fan_out (`W: [in, out]`) and Embedding (`W: [num, dim]`): the delta is `(B @ A)ᵀ = Aᵀ @ Bᵀ`,
 *   so L = Aᵀ and R = Bᵀ (transposed once per module by the caller, see {@link transposeF32}).
 *
 * Rounding, step by step in float32 as PyTorch 1.13's CPU matmul did on the fixtures (no fused multiply-add;
 * the fixtures agree bit for bit), and as 4-lane float32 SIMD computes it:
 * 1. `acc[j] = Σ_k fround(L[i,k] · R[k,j])`, summed in increasing k, each product and each partial sum
 *    rounded to float32. BLAS may order or fuse the sum differently; that is the only source of difference.
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
    let k = 0;
    // k = 0 starts the sum with the first product (not 0 + product), so a -0 product stays -0 as in BLAS
    if (rank > 0) {
      const l = left[leftRow] as number;
      for (let j = 0; j < cols; j++) scratch[j] = l * (right[j] as number); // rounded by the store
      k = 1;
    }
    // four terms per pass over the row (fewer loads and stores of the partial sums); every product and
    // partial sum is still rounded to float32 in increasing k, so the bits are those of one term per pass
    for (; k + 4 <= rank; k += 4) {
      const l0 = left[leftRow + k] as number, l1 = left[leftRow + k + 1] as number;
      const l2 = left[leftRow + k + 2] as number, l3 = left[leftRow + k + 3] as number;
      const r0 = k * cols, r1 = r0 + cols, r2 = r1 + cols, r3 = r2 + cols;
      for (let j = 0; j < cols; j++) {
        let acc = Math.fround((scratch[j] as number) + Math.fround(l0 * (right[r0 + j] as number)));
        acc = Math.fround(acc + Math.fround(l1 * (right[r1 + j] as number)));
        acc = Math.fround(acc + Math.fround(l2 * (right[r2 + j] as number)));
        scratch[j] = acc + Math.fround(l3 * (right[r3 + j] as number));
      }
    }
    for (; k < rank; k++) {
      const l = left[leftRow + k] as number;
      const rightRow = k * cols;
      for (let j = 0; j < cols; j++) scratch[j] = (scratch[j] as number) + Math.fround(l * (right[rightRow + j] as number));
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
