/**
 * 65,536-entry lookup tables for the 16-bit dtypes, built on first use from the scalar conversions.
 * Each costs 128 or 256 KiB, once per process.
 */
import { bf16BitsToF16, bf16BitsToF32, f16BitsToBf16, f16BitsToF32 } from "./scalar.js";

const SIXTEEN_BIT_VALUES = 0x10000;

function build<T extends Uint16Array | Uint32Array>(make: (n: number) => T, f: (h: number) => number): T {
  const table = make(SIXTEEN_BIT_VALUES);
  for (let h = 0; h < SIXTEEN_BIT_VALUES; h++) table[h] = f(h);
  return table;
}

let f16ToF32: Uint32Array | undefined;
let f16Values: Float32Array | undefined;
let bf16Values: Float32Array | undefined;
let bf16ToF16: Uint16Array | undefined;
let f16ToBf16: Uint16Array | undefined;

/** float16 bits → float32 bits. */
export function f16ToF32Table(): Uint32Array {
  f16ToF32 ??= build((n) => new Uint32Array(n), f16BitsToF32);
  return f16ToF32;
}

/** float16 bits → value (NaN entries are NaN; read their bits from {@link f16ToF32Table}). */
export function f16ValueTable(): Float32Array {
  f16Values ??= new Float32Array(f16ToF32Table().buffer);
  return f16Values;
}

/** bfloat16 bits → value (NaN entries are NaN). */
export function bf16ValueTable(): Float32Array {
  if (bf16Values === undefined) {
    const bits = build((n) => new Uint32Array(n), bf16BitsToF32);
    bf16Values = new Float32Array(bits.buffer);
  }
  return bf16Values;
}

/** bfloat16 bits → float16 bits. */
export function bf16ToF16Table(): Uint16Array {
  bf16ToF16 ??= build((n) => new Uint16Array(n), bf16BitsToF16);
  return bf16ToF16;
}

/** float16 bits → bfloat16 bits. */
export function f16ToBf16Table(): Uint16Array {
  f16ToBf16 ??= build((n) => new Uint16Array(n), f16BitsToBf16);
  return f16ToBf16;
}
