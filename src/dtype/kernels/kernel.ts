/** What every conversion kernel provides; one kernel object per caster (some keep per-caster state). */
import type { Tally } from "../tally.js";

export interface Kernel {
  /**
   * Convert every element of `src` into `dst`, both host-order and aligned for their element size,
   * `dst` holding exactly as many elements as `src`. Counts go to `tally` (all but `elements`).
   */
  convert(src: Uint8Array, dst: Uint8Array, tally: Tally): void;
  /** Fold counts the kernel deferred (per distinct source value) into `tally`. */
  flush(tally: Tally): void;
}

/** A kernel that keeps no state between chunks. */
export function stateless(convert: Kernel["convert"]): Kernel {
  return { convert, flush: () => undefined };
}

export function u16(b: Uint8Array): Uint16Array {
  return new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
}
export function u32(b: Uint8Array): Uint32Array {
  return new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
}
export function i32(b: Uint8Array): Int32Array {
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
}
export function f32(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
}
export function f64(b: Uint8Array): Float64Array {
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength >>> 3);
}
