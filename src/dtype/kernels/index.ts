/** The kernel for each ordered pair of float dtypes. */
import type { FloatDType } from "../table.js";
import { f32ToBf16Kernel } from "./f32-to-bf16.js";
import { f32ToF16Kernel } from "./f32-to-f16.js";
import { f64ToBf16Kernel, f64ToF16Kernel, f64ToF32Kernel } from "./from-f64.js";
import { halfToHalfKernel } from "./half-to-half.js";
import { simdBf16ToF16Kernel, simdF16ToBf16Kernel } from "./simd-half-to-half.js";
import { identityKernel } from "./identity.js";
import type { Kernel } from "./kernel.js";
import { type SimdCasts, simdBf16ToF32Kernel, simdF16ToF32Kernel, simdF32ToBf16Kernel, simdF32ToF16Kernel, threadSimdCasts } from "./simd.js";
import { bf16ToF32Kernel, bf16ToF64Kernel, f16ToF32Kernel, f16ToF64Kernel, f32ToF64Kernel } from "./widen.js";

export type { Kernel } from "./kernel.js";
export type { SimdCasts } from "./simd.js";
export { loadSimdCasts, setThreadSimdCasts } from "./simd.js";

const MAKERS: Record<FloatDType, Record<FloatDType, () => Kernel>> = {
  F16: {
    F16: () => identityKernel("F16"),
    BF16: () => halfToHalfKernel("F16"),
    F32: f16ToF32Kernel,
    F64: f16ToF64Kernel,
  },
  BF16: {
    F16: () => halfToHalfKernel("BF16"),
    BF16: () => identityKernel("BF16"),
    F32: bf16ToF32Kernel,
    F64: bf16ToF64Kernel,
  },
  F32: {
    F16: f32ToF16Kernel,
    BF16: f32ToBf16Kernel,
    F32: () => identityKernel("F32"),
    F64: f32ToF64Kernel,
  },
  F64: {
    F16: f64ToF16Kernel,
    BF16: f64ToBf16Kernel,
    F32: f64ToF32Kernel,
    F64: () => identityKernel("F64"),
  },
};

/** The pairs with a WebAssembly SIMD kernel (simd.ts): same bits and report as their JS kernel, faster. */
const SIMD_MAKERS: Partial<Record<`${FloatDType}>${FloatDType}`, (simd: SimdCasts) => Kernel>> = {
  "F32>BF16": simdF32ToBf16Kernel,
  "F32>F16": simdF32ToF16Kernel,
  "BF16>F32": simdBf16ToF32Kernel,
  "F16>F32": simdF16ToF32Kernel,
  "F16>BF16": simdF16ToBf16Kernel,
  "BF16>F16": simdBf16ToF16Kernel,
};

/**
 * A fresh kernel converting `from` → `to` (kernels may keep per-caster state): the WebAssembly SIMD one where
 * `simd` (default: this thread's module, null where WebAssembly SIMD is unavailable) has one, else the JS one.
 */
export function kernelFor(from: FloatDType, to: FloatDType, simd: SimdCasts | null = threadSimdCasts()): Kernel {
  const simdMaker = simd === null ? undefined : SIMD_MAKERS[`${from}>${to}`];
  return simd !== null && simdMaker !== undefined ? simdMaker(simd) : MAKERS[from][to]();
}
