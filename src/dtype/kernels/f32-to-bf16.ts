/**
 * float32 → bfloat16, the hot path. Four elements per step; when all four are normal and cannot
 * overflow (2^-126 ≤ |x| < 0x7f7f8000, the bfloat16 overflow threshold), each is rounded with one add and
 * its report contribution is known from the 16 bits cut off: changed iff they are not all zero, never to
 * infinity, zero or subnormal, error d = min(low, 2^16 − low) ulps. Any other step goes element by element
 * through the scalar conversion and {@link Tally.observe}.
 */
import { f32BitsToBf16, f32Value } from "../scalar.js";
import type { Tally } from "../tally.js";
import { absErrorOf, eCutInt, relErrorOf, relLoInt, relSpanInt } from "./error-cuts.js";
import { type Kernel, f32, i32, stateless, u16 } from "./kernel.js";

/** Bits cut off each element. */
const LOW_WIDTH = 0x10000;
/** log2 of the largest error in float32 ulps (a tie: 2^15). */
const D_MAX_LOG2 = 15;
/** |x| bits in [FAST_LO, FAST_LO + FAST_SPAN): normal, and rounding stays finite. */
const FAST_LO = 0x00800000;
const FAST_SPAN = 0x7f7f8000 - FAST_LO;

/**
 * Elements [from, to) one by one: those in the fast range are counted as the fast path counts them,
 * the others (zeros, tiny or huge values, inf, NaN) through {@link Tally.observe}.
 */
function slow(src: Int32Array, values: Float32Array, dst: Uint16Array, from: number, to: number, t: Tally): void {
  for (let i = from; i < to; i++) {
    const x = src[i] ?? 0;
    const r = f32BitsToBf16(x);
    dst[i] = r;
    const a = x & 0x7fffffff;
    if ((a - FAST_LO) >>> 0 < FAST_SPAN) {
      const low = a & (LOW_WIDTH - 1);
      if (low !== 0) {
        t.changed += 1;
        t.offer(absErrorOf(a, low, LOW_WIDTH), relErrorOf(a, low, LOW_WIDTH));
      }
    } else {
      t.observe(values[i] ?? 0, f32Value(r << 16));
    }
  }
}

// Typed arrays arrive as parameters: V8 compiles this loop much better than over views made inside it.
function loop(src: Int32Array, values: Float32Array, dst: Uint16Array, t: Tally): void {
  const n = src.length;
  // The report's maxima so far, and the integer cuts derived from them (see error-cuts.ts).
  let maxAbs = t.maxAbsError;
  let maxRel = t.maxRelError;
  let eCut = eCutInt(maxAbs, D_MAX_LOG2);
  let relLo = relLoInt(maxRel, LOW_WIDTH);
  let relSpan = relSpanInt(maxRel, LOW_WIDTH);
  let special = 0;
  let unchanged = 0;
  let i = 0;
  // Indices stay below n by the loop bounds, so `?? 0` never applies (it only satisfies the type checker).
  for (; i + 4 <= n; i += 4) {
    const x0 = src[i] ?? 0, x1 = src[i + 1] ?? 0, x2 = src[i + 2] ?? 0, x3 = src[i + 3] ?? 0;
    const a0 = x0 & 0x7fffffff, a1 = x1 & 0x7fffffff, a2 = x2 & 0x7fffffff, a3 = x3 & 0x7fffffff;
    if (
      (a0 - FAST_LO) >>> 0 < FAST_SPAN && (a1 - FAST_LO) >>> 0 < FAST_SPAN &&
      (a2 - FAST_LO) >>> 0 < FAST_SPAN && (a3 - FAST_LO) >>> 0 < FAST_SPAN
    ) {
      dst[i] = (x0 + 0x7fff + ((x0 >>> 16) & 1)) >>> 16;
      dst[i + 1] = (x1 + 0x7fff + ((x1 >>> 16) & 1)) >>> 16;
      dst[i + 2] = (x2 + 0x7fff + ((x2 >>> 16) & 1)) >>> 16;
      dst[i + 3] = (x3 + 0x7fff + ((x3 >>> 16) & 1)) >>> 16;
      const l0 = x0 & 0xffff, l1 = x1 & 0xffff, l2 = x2 & 0xffff, l3 = x3 & 0xffff;
      unchanged += ((l0 - 1) >>> 31) + ((l1 - 1) >>> 31) + ((l2 - 1) >>> 31) + ((l3 - 1) >>> 31);
      if (a0 >>> 23 > eCut || (l0 - relLo) >>> 0 < relSpan) {
        const abs = absErrorOf(a0, l0, LOW_WIDTH);
        const rel = relErrorOf(a0, l0, LOW_WIDTH);
        if (abs > maxAbs || rel > maxRel) {
          t.offer(abs, rel);
          maxAbs = t.maxAbsError;
          maxRel = t.maxRelError;
          eCut = eCutInt(maxAbs, D_MAX_LOG2);
          relLo = relLoInt(maxRel, LOW_WIDTH);
          relSpan = relSpanInt(maxRel, LOW_WIDTH);
        }
      }
      if (a1 >>> 23 > eCut || (l1 - relLo) >>> 0 < relSpan) {
        const abs = absErrorOf(a1, l1, LOW_WIDTH);
        const rel = relErrorOf(a1, l1, LOW_WIDTH);
        if (abs > maxAbs || rel > maxRel) {
          t.offer(abs, rel);
          maxAbs = t.maxAbsError;
          maxRel = t.maxRelError;
          eCut = eCutInt(maxAbs, D_MAX_LOG2);
          relLo = relLoInt(maxRel, LOW_WIDTH);
          relSpan = relSpanInt(maxRel, LOW_WIDTH);
        }
      }
      if (a2 >>> 23 > eCut || (l2 - relLo) >>> 0 < relSpan) {
        const abs = absErrorOf(a2, l2, LOW_WIDTH);
        const rel = relErrorOf(a2, l2, LOW_WIDTH);
        if (abs > maxAbs || rel > maxRel) {
          t.offer(abs, rel);
          maxAbs = t.maxAbsError;
          maxRel = t.maxRelError;
          eCut = eCutInt(maxAbs, D_MAX_LOG2);
          relLo = relLoInt(maxRel, LOW_WIDTH);
          relSpan = relSpanInt(maxRel, LOW_WIDTH);
        }
      }
      if (a3 >>> 23 > eCut || (l3 - relLo) >>> 0 < relSpan) {
        const abs = absErrorOf(a3, l3, LOW_WIDTH);
        const rel = relErrorOf(a3, l3, LOW_WIDTH);
        if (abs > maxAbs || rel > maxRel) {
          t.offer(abs, rel);
          maxAbs = t.maxAbsError;
          maxRel = t.maxRelError;
          eCut = eCutInt(maxAbs, D_MAX_LOG2);
          relLo = relLoInt(maxRel, LOW_WIDTH);
          relSpan = relSpanInt(maxRel, LOW_WIDTH);
        }
      }
    } else {
      special += 4;
      slow(src, values, dst, i, i + 4, t);
      if (t.maxAbsError !== maxAbs || t.maxRelError !== maxRel) {
        maxAbs = t.maxAbsError;
        maxRel = t.maxRelError;
        eCut = eCutInt(maxAbs, D_MAX_LOG2);
        relLo = relLoInt(maxRel, LOW_WIDTH);
        relSpan = relSpanInt(maxRel, LOW_WIDTH);
      }
    }
  }
  special += n - i;
  slow(src, values, dst, i, n, t);
  t.changed += n - special - unchanged;
}

export function convertF32ToBf16(src: Uint8Array, dst: Uint8Array, t: Tally): void {
  loop(i32(src), f32(src), u16(dst), t);
}

export function f32ToBf16Kernel(): Kernel {
  return stateless(convertF32ToBf16);
}
