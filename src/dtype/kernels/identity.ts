/** from === to: the bytes are copied; only NaNs are counted. (The export copies raw bytes instead.) */
import type { FloatDType } from "../table.js";
import type { Tally } from "../tally.js";
import { type Kernel, f64, stateless, u16, u32 } from "./kernel.js";

function countNan16(src: Uint16Array, nanAbove: number): number {
  let nan = 0;
  for (let i = 0; i < src.length; i++) if (((src[i] ?? 0) & 0x7fff) > nanAbove) nan += 1;
  return nan;
}
function countNan32(src: Uint32Array): number {
  let nan = 0;
  for (let i = 0; i < src.length; i++) if (((src[i] ?? 0) & 0x7fffffff) > 0x7f800000) nan += 1;
  return nan;
}
function countNan64(src: Float64Array): number {
  let nan = 0;
  for (let i = 0; i < src.length; i++) {
    const x = src[i] ?? 0;
    if (x !== x) nan += 1;
  }
  return nan;
}

export function identityKernel(dtype: FloatDType): Kernel {
  return stateless((src: Uint8Array, dst: Uint8Array, t: Tally) => {
    dst.set(src);
    if (dtype === "F16") t.nan += countNan16(u16(src), 0x7c00);
    else if (dtype === "BF16") t.nan += countNan16(u16(src), 0x7f80);
    else if (dtype === "F32") t.nan += countNan32(u32(src));
    else t.nan += countNan64(f64(src));
  });
}
