/**
 * float16 ↔ bfloat16 by table lookup. The report is exact and cheap: the kernel counts how often each of
 * the 65,536 source bit patterns occurs, and {@link Kernel.flush} reports each distinct pattern once,
 * weighted by its count.
 */
import { bf16ToF16Table, bf16ValueTable, f16ToBf16Table, f16ValueTable } from "../tables.js";
import type { Tally } from "../tally.js";
import { type Kernel, u16 } from "./kernel.js";

const PATTERNS = 0x10000;

// Indices stay within bounds (16-bit patterns, loop conditions), so `?? 0` never applies.
function loop(src: Uint16Array, dst: Uint16Array, table: Uint16Array, histogram: Float64Array): void {
  for (let i = 0; i < src.length; i++) {
    const h = src[i] ?? 0;
    dst[i] = table[h] ?? 0;
    histogram[h] = (histogram[h] ?? 0) + 1; // float64 counts are exact up to 2^53
  }
}

export function halfToHalfKernel(from: "F16" | "BF16"): Kernel {
  const table = from === "F16" ? f16ToBf16Table() : bf16ToF16Table();
  const sourceValues = from === "F16" ? f16ValueTable() : bf16ValueTable();
  const targetValues = from === "F16" ? bf16ValueTable() : f16ValueTable();
  const histogram = new Float64Array(PATTERNS);
  return {
    convert(src: Uint8Array, dst: Uint8Array): void {
      loop(u16(src), u16(dst), table, histogram);
    },
    flush(t: Tally): void {
      for (let h = 0; h < PATTERNS; h++) {
        const count = histogram[h] ?? 0;
        if (count === 0) continue;
        t.observe(sourceValues[h] ?? NaN, targetValues[table[h] ?? 0] ?? NaN, count);
        histogram[h] = 0;
      }
    },
  };
}
