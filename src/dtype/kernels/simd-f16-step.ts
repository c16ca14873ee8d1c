/**
 * The fast step of float32 → float16 in the cast module (simd-narrow.ts), on 16-bit lanes as the bfloat16 step
 * (simd-bf16-step.ts): each pair of source vectors (8 elements) is split into H, the high 16 bits, and W, the low 16
 * bits, so that the test, the rounding, the count of unchanged elements and the relative-error window take one
 * 8-lane instruction where 32-bit lanes take two.
 *
 * For a fast lane (|H| in [0x3880, 0x477f): a normal float16 that cannot round to infinity) the float16 magnitude
 * truncated is T = ((H << 3) | (W >>> 13)) − 0xc000 (mod 2^16: the sign and the exponent's top bits shift out, the
 * bias 112 << 10 goes), the bits cut off are L = W & 0x1fff, and rounding to nearest even adds 1 iff
 * (L | (T & 1)) >s 0x1000 (L > 0x1000, or L = 0x1000 and T odd). Its error is d = min(L, 0x2000 − L) float32 ulps,
 * |error| = d · 2^(E − 150) (E: the biased exponent), which float32 gives exactly, with no absolute value, as the
 * float with bits (|H| << 16) | d minus the one with bits |H| << 16 (both have E and the same 7 high mantissa bits;
 * the 16-bit halves come from lanes of |H|, kept by the test, and of d).
 *
 * The test is conservative (a lane may fail it and still be fast: the careful path then handles it): all 16 lanes
 * have |H| in [0x3880, 0x477f), and none has d ≥ lo, the relative-error window of simd-narrow.ts.
 */
import { s, v } from "./simd-ops.js";
import { i32Const as c } from "./wasm-bytes.js";

/** The locals this step reads and writes (indices into the function's locals). */
export interface F16StepLocals {
  readonly P: number;
  /** Where the step's output goes. */
  readonly Q: number;
  /** H, |H|, W, L and d of each pair, set by the test, used by the step. */
  readonly HH: readonly [number, number];
  readonly AA: readonly [number, number];
  readonly WW: readonly [number, number];
  readonly LL: readonly [number, number];
  readonly DD: readonly [number, number];
  /** Scratch. */
  readonly T: number;
  readonly X: number;
  /** Accumulators: largest |error| per lane; unchanged elements (−1 each) per 16-bit lane. */
  readonly AMAX: number;
  readonly EQ16: number;
  /** Constants: zero; splat32(0xffff); 16-bit lanes of 0x1fff, 0x7fff, 1, 0x1000, 0x2000, 0xc000. */
  readonly ZERO: number;
  readonly LOW32: number;
  readonly CUT16: number;
  readonly MAG16: number;
  readonly ONE16: number;
  readonly HALF16: number;
  readonly WIDTH16: number;
  readonly BIAS16: number;
  /** not fast ⇔ |H| − FLO16 >s FK16 (see simd-narrow.ts's constants). */
  readonly FLO16: number;
  readonly FK16: number;
  /** splat16(min(lo − 1, 0x7fff)): d ≥ lo ⇔ d >s RELT16 (d ≤ 0x1000). */
  readonly RELT16: number;
}

/** The test, on the stack as an i32: true when the step must take the careful path. */
export function f16StepTest(l: F16StepLocals): number[] {
  const pair = (j: 0 | 1): number[] => [
    ...s.get(l.P), ...v.load(32 * j), ...s.tee(l.T), ...s.get(l.P), ...v.load(32 * j + 16), ...s.tee(l.X), ...v.high16, ...s.set(l.HH[j]),
    ...s.get(l.T), ...s.get(l.LOW32), ...v.and, ...s.get(l.X), ...s.get(l.LOW32), ...v.and, ...v.narrowU, ...s.tee(l.WW[j]),
    ...s.get(l.CUT16), ...v.and, ...s.tee(l.LL[j]), ...s.get(l.WIDTH16), ...s.get(l.LL[j]), ...v.i16x8sub, ...v.i16x8minU, ...s.set(l.DD[j]),
  ];
  const shifted = (j: 0 | 1): number[] => [...s.get(l.HH[j]), ...s.get(l.MAG16), ...v.and, ...s.tee(l.AA[j]), ...s.get(l.FLO16), ...v.i16x8sub];
  return [
    ...pair(0), ...pair(1),
    ...shifted(0), ...shifted(1), ...v.i16x8maxS, ...s.get(l.FK16), ...v.i16x8gtS,
    ...s.get(l.DD[0]), ...s.get(l.DD[1]), ...v.i16x8maxS, ...s.get(l.RELT16), ...v.i16x8gtS,
    ...v.or, ...v.anyTrue,
  ];
}

/** The fast step: outputs stored, accumulators updated. */
export function f16Step(l: F16StepLocals): number[] {
  // |error| of the 4 lanes whose |H| and d are interleaved by `spread`
  const errors = (j: 0 | 1, spread: number[]): number[] => [
    ...s.get(l.DD[j]), ...s.get(l.AA[j]), ...spread, ...s.get(l.ZERO), ...s.get(l.AA[j]), ...spread, ...v.f32x4sub,
    ...s.get(l.AMAX), ...v.f32x4pmax, ...s.set(l.AMAX),
  ];
  const pair = (j: 0 | 1): number[] => [
    ...s.get(l.Q),
    // T, then out = (T + up) | sign, up = −((L | (T & 1)) >s 0x1000)
    ...s.get(l.HH[j]), ...c(3), ...v.i16x8shl, ...s.get(l.WW[j]), ...c(13), ...v.i16x8shrU, ...v.or, ...s.get(l.BIAS16), ...v.i16x8sub,
    ...s.tee(l.T), ...s.get(l.LL[j]), ...s.get(l.T), ...s.get(l.ONE16), ...v.and, ...v.or, ...s.get(l.HALF16), ...v.i16x8gtS, ...v.i16x8sub,
    ...s.get(l.HH[j]), ...s.get(l.MAG16), ...v.andnot, ...v.or,
    ...v.store(16 * j),
    ...s.get(l.LL[j]), ...s.get(l.ZERO), ...v.i16x8eq, ...s.get(l.EQ16), ...v.i16x8add, ...s.set(l.EQ16),
    ...errors(j, v.interleaveLo16), ...errors(j, v.interleaveHi16),
  ];
  return [...pair(0), ...pair(1)];
}
