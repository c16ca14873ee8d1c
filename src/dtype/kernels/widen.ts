/**
 * Widening conversions: bfloat16/float16 → float32, and anything → float64. All exact, so the only
 * thing to count is NaNs (which keep sign and payload and become quiet).
 */
import { bf16BitsToF32, f32NanToF64Words } from "../scalar.js";
import { bf16ValueTable, f16ToF32Table, f16ValueTable } from "../tables.js";
import type { Tally } from "../tally.js";
import { HI, LO } from "../host-order.js";
import { type Kernel, f32, f64, stateless, u16, u32 } from "./kernel.js";

// Loops take typed arrays as parameters (V8 compiles them better than views made inside).
// Indices stay within bounds by the loop conditions, so `?? 0` never applies.

function bf16ToF32Loop(src: Uint16Array, dst: Uint32Array): number {
  let nan = 0;
  for (let i = 0; i < src.length; i++) {
    const h = src[i] ?? 0;
    const isNan = ((h & 0x7fff) + 0x7f) >>> 15; // 1 iff |h| > 0x7f80
    dst[i] = (h << 16) | (isNan << 22); // a NaN is made quiet
    nan += isNan;
  }
  return nan;
}

function f16ToF32Loop(src: Uint16Array, dst: Uint32Array, table: Uint32Array): number {
  let nan = 0;
  for (let i = 0; i < src.length; i++) {
    const h = src[i] ?? 0;
    dst[i] = table[h] ?? 0;
    nan += ((h & 0x7fff) + 0x3ff) >>> 15; // 1 iff |h| > 0x7c00
  }
  return nan;
}

/** Write float64 element i as the NaN widened from float32 NaN bits. */
function putNan(words: Uint32Array, i: number, f32Bits: number): void {
  const { hi, lo } = f32NanToF64Words(f32Bits);
  words[2 * i + HI] = hi;
  words[2 * i + LO] = lo;
}

function valuesToF64Loop(values: Float32Array, nanBits: (i: number) => number, dst: Float64Array, words: Uint32Array): number {
  let nan = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    if (v === v) {
      dst[i] = v;
    } else {
      putNan(words, i, nanBits(i));
      nan += 1;
    }
  }
  return nan;
}

function sixteenToF64Loop(src: Uint16Array, values: Float32Array, toF32: (h: number) => number, dst: Float64Array, words: Uint32Array): number {
  let nan = 0;
  for (let i = 0; i < src.length; i++) {
    const h = src[i] ?? 0;
    const v = values[h] ?? 0;
    if (v === v) {
      dst[i] = v;
    } else {
      putNan(words, i, toF32(h));
      nan += 1;
    }
  }
  return nan;
}

export function bf16ToF32Kernel(): Kernel {
  return stateless((src, dst, t: Tally) => {
    t.nan += bf16ToF32Loop(u16(src), u32(dst));
  });
}

export function f16ToF32Kernel(): Kernel {
  return stateless((src, dst, t: Tally) => {
    t.nan += f16ToF32Loop(u16(src), u32(dst), f16ToF32Table());
  });
}

export function f32ToF64Kernel(): Kernel {
  return stateless((src, dst, t: Tally) => {
    const bits = u32(src);
    t.nan += valuesToF64Loop(f32(src), (i) => bits[i] ?? 0, f64(dst), u32(dst));
  });
}

export function f16ToF64Kernel(): Kernel {
  return stateless((src, dst, t: Tally) => {
    const table = f16ToF32Table();
    t.nan += sixteenToF64Loop(u16(src), f16ValueTable(), (h) => table[h] ?? 0, f64(dst), u32(dst));
  });
}

export function bf16ToF64Kernel(): Kernel {
  return stateless((src, dst, t: Tally) => {
    t.nan += sixteenToF64Loop(u16(src), bf16ValueTable(), bf16BitsToF32, f64(dst), u32(dst));
  });
}
