/**
 * float64 → float32 / float16 / bfloat16. Each rounds once from the float64 value: float32 by the
 * language's own conversion (IEEE round-to-nearest-even), the 16-bit ones through a round-to-odd float32
 * (see {@link f64ToF32BitsRoundToOdd}), never through a rounded float32, which would round twice.
 * Not a hot path (float64 checkpoints are rare): every element goes through {@link Tally.observe}.
 */
import { f32BitsToBf16, f32BitsToF16, f32Value, f64NanToF32Bits, f64ToF32BitsRoundToOdd } from "../scalar.js";
import { f16ValueTable } from "../tables.js";
import type { Tally } from "../tally.js";
import { HI, LO } from "../host-order.js";
import { type Kernel, f32, f64, stateless, u16, u32 } from "./kernel.js";

// Indices stay within bounds by the loop conditions, so `?? 0` never applies.

function nanBits(words: Uint32Array, i: number): number {
  return f64NanToF32Bits(words[2 * i + HI] ?? 0, words[2 * i + LO] ?? 0);
}

function toF32Loop(src: Float64Array, words: Uint32Array, dst: Float32Array, dstBits: Uint32Array, t: Tally): void {
  for (let i = 0; i < src.length; i++) {
    const x = src[i] ?? 0;
    if (x !== x) {
      dstBits[i] = nanBits(words, i);
      t.nan += 1;
      continue;
    }
    dst[i] = x; // ToFloat32: round to nearest, ties to even, with subnormals and overflow to ±inf
    t.observe(x, dst[i] ?? 0); // every element: an unchanged value may still have become subnormal
  }
}

function toSixteenLoop(
  src: Float64Array, words: Uint32Array, dst: Uint16Array, round: (f32Bits: number) => number,
  value: (h: number) => number, t: Tally,
): void {
  for (let i = 0; i < src.length; i++) {
    const x = src[i] ?? 0;
    if (x !== x) {
      dst[i] = round(nanBits(words, i));
      t.nan += 1;
      continue;
    }
    const r = round(f64ToF32BitsRoundToOdd(x));
    dst[i] = r;
    t.observe(x, value(r));
  }
}

export function f64ToF32Kernel(): Kernel {
  return stateless((src, dst, t) => toF32Loop(f64(src), u32(src), f32(dst), u32(dst), t));
}

export function f64ToF16Kernel(): Kernel {
  return stateless((src, dst, t) => {
    const values = f16ValueTable();
    toSixteenLoop(f64(src), u32(src), u16(dst), f32BitsToF16, (h) => values[h] ?? NaN, t);
  });
}

export function f64ToBf16Kernel(): Kernel {
  return stateless((src, dst, t) => {
    toSixteenLoop(f64(src), u32(src), u16(dst), f32BitsToBf16, (h) => f32Value(h << 16), t);
  });
}
