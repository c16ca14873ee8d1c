/**
 * The fast step of float32 → bfloat16 in the cast module (simd-narrow.ts), on 16-bit lanes: each pair of source
 * vectors (8 elements) is split into H, the high 16 bits (the truncated result), and L, the 16 bits cut off, so
 * that the test, the rounding, the count of unchanged elements and the relative-error window take one 8-lane
 * instruction where 32-bit lanes take two. Rounding to nearest even: H + 1 iff L > 0x8000, or L = 0x8000 and H
 * is odd, i.e. iff (L | (H & 1)) ^ 0x8000 >s 0 (as int16). Only the absolute error stays on 32-bit lanes:
 * rounded − x in float32 (exact), its maximum and minimum kept per lane.
 *
 * The step's test is conservative (a lane may fail it and still be fast: the careful path then handles it):
 * all 16 lanes have |H| in [0x0080, 0x7f7f) (normal, and rounding cannot reach infinity), and none has
 * d = min(L, 0x10000 − L) ≥ lo, the relative-error window of simd-narrow.ts.
 */
import { s, v } from "./simd-ops.js";

/** The locals this step reads and writes (indices into the function's locals). */
export interface Bf16StepLocals {
  readonly P: number;
  /** Where the step's output goes (the output address of element I). */
  readonly Q: number;
  /** The 4 source vectors, loaded by the test, used by the step. */
  readonly XS: readonly [number, number, number, number];
  /** H and L of each pair. */
  readonly HH: readonly [number, number];
  readonly LL: readonly [number, number];
  /** Scratch. */
  readonly OUT: number;
  /** Accumulators: max and min of rounded − x per lane; unchanged elements (−1 each) per 16-bit lane. */
  readonly AMAX: number;
  readonly AMIN: number;
  readonly EQ16: number;
  /** Constants: zero; 16-bit lanes of 0x7fff, 0x8000, 1; the test's bound; the relative window (see below). */
  readonly ZERO: number;
  readonly MAG16: number;
  /** splat32(0xffff). */
  readonly LOW32: number;
  readonly SIGN16: number;
  readonly ONE16: number;
  /** splat16(0x8080), and splat16(0x7f7f − 0x80 − 0x8001): not fast ⇔ |H| − 0x8080 >s FK16 (simd-narrow.ts's constants). */
  readonly FLO16: number;
  readonly FK16: number;
  /** splat16(min(lo − 1, 0x8000) ^ 0x8000): d ≥ lo ⇔ (d ^ 0x8000) >s RELT16. */
  readonly RELT16: number;
}

/** The test, on the stack as an i32: true when the step must take the careful path. */
export function bf16StepTest(l: Bf16StepLocals): number[] {
  const pair = (j: 0 | 1): number[] => {
    const [x0, x1] = [l.XS[2 * j] ?? 0, l.XS[2 * j + 1] ?? 0];
    return [
      ...s.get(l.P), ...v.load(32 * j), ...s.tee(x0), ...s.get(l.P), ...v.load(32 * j + 16), ...s.tee(x1), ...v.high16, ...s.set(l.HH[j]),
      ...s.get(x0), ...s.get(l.LOW32), ...v.and, ...s.get(x1), ...s.get(l.LOW32), ...v.and, ...v.narrowU, ...s.set(l.LL[j]),
    ];
  };
  // (|H| − 0x80) ^ 0x8000 and d of pair j, left on the stack
  const shifted = (j: 0 | 1): number[] => [...s.get(l.HH[j]), ...s.get(l.MAG16), ...v.and, ...s.get(l.FLO16), ...v.i16x8sub];
  const d = (j: 0 | 1): number[] => [...s.get(l.LL[j]), ...s.get(l.LL[j]), ...v.i16x8neg, ...v.i16x8minU];
  return [
    ...pair(0), ...pair(1),
    ...shifted(0), ...shifted(1), ...v.i16x8maxS, ...s.get(l.FK16), ...v.i16x8gtS,
    ...d(0), ...d(1), ...v.i16x8maxU, ...s.get(l.SIGN16), ...v.xor, ...s.get(l.RELT16), ...v.i16x8gtS,
    ...v.or, ...v.anyTrue,
  ];
}

/** The fast step: outputs stored, accumulators updated. */
export function bf16Step(l: Bf16StepLocals): number[] {
  const errors = (x: number, spread: number[]): number[] => [
    ...s.get(l.ZERO), ...s.get(l.OUT), ...spread, ...s.get(x), ...v.f32x4sub, ...s.tee(x),
    ...s.get(l.AMAX), ...v.f32x4pmax, ...s.set(l.AMAX), ...s.get(x), ...s.get(l.AMIN), ...v.f32x4pmin, ...s.set(l.AMIN),
  ];
  const pair = (j: 0 | 1): number[] => [
    // OUT = H − (((L | (H & 1)) ^ 0x8000) >s 0)
    ...s.get(l.HH[j]), ...s.get(l.LL[j]), ...s.get(l.HH[j]), ...s.get(l.ONE16), ...v.and, ...v.or, ...s.get(l.SIGN16), ...v.xor,
    ...s.get(l.ZERO), ...v.i16x8gtS, ...v.i16x8sub, ...s.set(l.OUT),
    ...s.get(l.Q), ...s.get(l.OUT), ...v.store(16 * j),
    ...s.get(l.LL[j]), ...s.get(l.ZERO), ...v.i16x8eq, ...s.get(l.EQ16), ...v.i16x8add, ...s.set(l.EQ16),
    ...errors(l.XS[2 * j] ?? 0, v.interleaveLo16), ...errors(l.XS[2 * j + 1] ?? 0, v.interleaveHi16),
  ];
  return [...pair(0), ...pair(1)];
}
