/**
 * The WebAssembly SIMD cast kernels (module: simd-module.ts): float32 → bfloat16 and float32 → float16 with the
 * loss report in the same pass, and bfloat16/float16 → float32 (float16 ↔ bfloat16: simd-half-to-half.ts). Same bits and same report as the JavaScript
 * kernels (f32-to-bf16.ts, f32-to-f16.ts, widen.ts), which remain the fallback where WebAssembly SIMD is not
 * available. The module converts one block of up to {@link SIMD_BLOCK} elements a call (the elements outside the
 * fast range are listed by the module and converted here, one by one, as the JS kernels convert them); a last
 * partial step (fewer than 16 elements narrowed, 8 widened) goes through the JS kernel. A source or target that
 * lies in the module's memory (a view of {@link SimdCasts.buffer}: the export's cast workers read chunks there,
 * cast-arena.ts) is read or written where it is; any other is copied through the instance's scratch block, a
 * block at a time (copies that cost as much as the conversion itself).
 */
import { HOST_LITTLE_ENDIAN } from "../host-order.js";
import { f32BitsToBf16, f32BitsToF16, f32Value } from "../scalar.js";
import { f16ValueTable } from "../tables.js";
import type { Tally } from "../tally.js";
import { convertF32ToBf16 } from "./f32-to-bf16.js";
import { convertF32ToF16 } from "./f32-to-f16.js";
import { type Kernel, i32, stateless, u16 } from "./kernel.js";
import { type Scratch, scratchAt } from "./simd-layout.js";
import { castModuleBytes, SIMD_BLOCK } from "./simd-module.js";
import { bf16ToF32Kernel, f16ToF32Kernel } from "./widen.js";

/** The few WebAssembly APIs used here (the project's TypeScript libs declare no WebAssembly types). */
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
}

/** A WebAssembly.Memory, as far as it is used here. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/** A memory for the instance to use instead of one of its own: its scratch at `base`, the rest the caller's. */
export interface SimdMemory {
  readonly memory: WasmMemory;
  /** Whether `memory` is shared (created with `shared: true`). */
  readonly shared: boolean;
  /** Where the instance's scratch starts (SCRATCH_BYTES from there are the instance's). */
  readonly base: number;
}

/** A mutable WebAssembly.Global. */
interface WasmGlobal {
  value: number;
}

/** One instance of the module (one per thread) and views of its memory. */
export interface SimdCasts {
  /** The memory's buffer: a chunk that is a view of it is converted in place. */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly scratch: Scratch;
  /** Where the functions read and write (the scratch block unless set elsewhere). */
  readonly inAt: WasmGlobal;
  readonly outAt: WasmGlobal;
  readonly f32ToBf16: (n: number, maxRel: number) => number;
  readonly f32ToF16: (n: number, maxRel: number) => number;
  readonly bf16ToF32: (n: number) => number;
  readonly f16ToF32: (n: number) => number;
  readonly f16ToBf16: (n: number) => number;
  readonly bf16ToF16: (n: number) => number;
  readonly bytes: Uint8Array;
  readonly list: Int32Array;
  readonly changed: Int32Array;
  readonly absMax: Float32Array;
  readonly relMax: Float64Array;
  /** The float16 → bfloat16 report's 8 lanes each of |error| key, d and M (simd-half.ts). */
  readonly halfStats: Uint16Array;
}

/**
 * Instantiate the cast module with `wasm` (default: the global WebAssembly; null: none), in a memory of its own or
 * in `memory`, or null where there is none or it rejects the module (no SIMD support).
 */
export function loadSimdCasts(
  wasm: WasmApi | null = (globalThis as { WebAssembly?: WasmApi }).WebAssembly ?? null,
  memory: SimdMemory | null = null,
): SimdCasts | null {
  if (wasm === null) return null;
  let exports: Record<string, unknown>;
  try {
    const bytes = castModuleBytes(memory === null ? {} : { memory: memory.shared ? "shared" : "imported", base: memory.base });
    exports = new wasm.Instance(new wasm.Module(bytes), memory === null ? {} : { env: { mem: memory.memory } }).exports;
  } catch {
    return null;
  }
  const buffer = (exports.mem as WasmMemory).buffer;
  const scratch = scratchAt(memory?.base ?? 0);
  return {
    buffer,
    scratch,
    inAt: exports.inAt as WasmGlobal,
    outAt: exports.outAt as WasmGlobal,
    f32ToBf16: exports.f32ToBf16 as SimdCasts["f32ToBf16"],
    f32ToF16: exports.f32ToF16 as SimdCasts["f32ToF16"],
    bf16ToF32: exports.bf16ToF32 as SimdCasts["bf16ToF32"],
    f16ToF32: exports.f16ToF32 as SimdCasts["f16ToF32"],
    f16ToBf16: exports.f16ToBf16 as SimdCasts["f16ToBf16"],
    bf16ToF16: exports.bf16ToF16 as SimdCasts["bf16ToF16"],
    bytes: new Uint8Array(buffer),
    list: new Int32Array(buffer, scratch.list, SIMD_BLOCK),
    changed: new Int32Array(buffer, scratch.stats, 1),
    absMax: new Float32Array(buffer, scratch.stats + 16, 4),
    relMax: new Float64Array(buffer, scratch.stats + 32, 1),
    halfStats: new Uint16Array(buffer, scratch.stats + 16, 24),
  };
}

let threadCasts: SimdCasts | null | undefined;

/**
 * This thread's SIMD casts (instantiated on first use), or null where WebAssembly SIMD is not available, or on a
 * big-endian host (the kernels get host-order elements; WebAssembly memory is little-endian).
 */
export function threadSimdCasts(): SimdCasts | null {
  if (threadCasts === undefined) threadCasts = HOST_LITTLE_ENDIAN ? loadSimdCasts() : null;
  return threadCasts;
}

/**
 * Make `casts` this thread's SIMD casts (a cast worker's instance in the memory it shares with the export, so that
 * the chunks the export reads there are converted in place); null: none (the JS kernels).
 */
export function setThreadSimdCasts(casts: SimdCasts | null): void {
  threadCasts = HOST_LITTLE_ENDIAN ? casts : null;
}

/** What differs between the two narrowing kernels. */
interface Narrow {
  run(simd: SimdCasts, n: number, maxRel: number): number;
  /** The scalar conversion and the result's value, for the elements the module lists. */
  scalar(bits: number): number;
  value(r: number): number;
  /** The JS kernel, for the last elements (fewer than 16). */
  js(src: Uint8Array, dst: Uint8Array, t: Tally): void;
}

const BF16: Narrow = {
  run: (simd, n, maxRel) => simd.f32ToBf16(n, maxRel),
  scalar: f32BitsToBf16,
  value: (r) => f32Value(r << 16),
  js: convertF32ToBf16,
};
const F16: Narrow = {
  run: (simd, n, maxRel) => simd.f32ToF16(n, maxRel),
  scalar: f32BitsToF16,
  value: (r) => f16ValueTable()[r] ?? NaN,
  js: convertF32ToF16,
};

/**
 * Point the module at the block of `len` elements from element `at` of `src` and `dst` (`inSize`, `outSize` bytes
 * each): in place where they lie in its memory, else at the scratch block, the source copied in. Returns whether
 * the output must be copied out of the scratch block.
 */
export function place(simd: SimdCasts, src: Uint8Array, dst: Uint8Array, at: number, len: number, inSize: number, outSize: number): boolean {
  if (src.buffer === simd.buffer) simd.inAt.value = src.byteOffset + at * inSize;
  else {
    simd.bytes.set(src.subarray(at * inSize, (at + len) * inSize), simd.scratch.in);
    simd.inAt.value = simd.scratch.in;
  }
  const copyOut = dst.buffer !== simd.buffer;
  simd.outAt.value = copyOut ? simd.scratch.out : dst.byteOffset + at * outSize;
  return copyOut;
}

function narrow(simd: SimdCasts, how: Narrow, src: Uint8Array, dst: Uint8Array, t: Tally): void {
  const n = src.byteLength >>> 2;
  const body = n & ~15;
  const bits = i32(src);
  const out = u16(dst);
  const { bytes, list, changed, absMax, scratch } = simd;
  for (let at = 0; at < body; at += SIMD_BLOCK) {
    const len = Math.min(SIMD_BLOCK, body - at);
    const copyOut = place(simd, src, dst, at, len, 4, 2);
    const specials = how.run(simd, len, t.maxRelError);
    if (copyOut) dst.set(bytes.subarray(scratch.out, scratch.out + len * 2), at * 2);
    t.changed += changed[0] ?? 0;
    t.offer(Math.max(absMax[0] ?? 0, absMax[1] ?? 0, absMax[2] ?? 0, absMax[3] ?? 0), simd.relMax[0] ?? 0);
    for (let k = 0; k < specials; k++) {
      const i = at + (list[k] ?? 0);
      const x = bits[i] ?? 0;
      const r = how.scalar(x);
      out[i] = r;
      t.observe(f32Value(x), how.value(r));
    }
  }
  if (body < n) how.js(src.subarray(body * 4), dst.subarray(body * 2), t);
}

function widen(simd: SimdCasts, run: (n: number) => number, js: Kernel, src: Uint8Array, dst: Uint8Array, t: Tally): void {
  const n = src.byteLength >>> 1;
  const body = n & ~7;
  const { bytes, scratch } = simd;
  for (let at = 0; at < body; at += SIMD_BLOCK) {
    const len = Math.min(SIMD_BLOCK, body - at);
    const copyOut = place(simd, src, dst, at, len, 2, 4);
    t.nan += run(len);
    if (copyOut) dst.set(bytes.subarray(scratch.out, scratch.out + len * 4), at * 4);
  }
  if (body < n) js.convert(src.subarray(body * 2), dst.subarray(body * 4), t);
}

/** float32 → bfloat16 in WebAssembly SIMD (same bits and report as f32-to-bf16.ts). */
export function simdF32ToBf16Kernel(simd: SimdCasts): Kernel {
  return stateless((src, dst, t) => narrow(simd, BF16, src, dst, t));
}

/** float32 → float16 in WebAssembly SIMD (same bits and report as f32-to-f16.ts). */
export function simdF32ToF16Kernel(simd: SimdCasts): Kernel {
  return stateless((src, dst, t) => narrow(simd, F16, src, dst, t));
}

/** bfloat16 → float32 in WebAssembly SIMD (same bits and NaN count as widen.ts). */
export function simdBf16ToF32Kernel(simd: SimdCasts): Kernel {
  const js = bf16ToF32Kernel();
  return stateless((src, dst, t) => widen(simd, simd.bf16ToF32, js, src, dst, t));
}

/** float16 → float32 in WebAssembly SIMD (same bits and NaN count as widen.ts). */
export function simdF16ToF32Kernel(simd: SimdCasts): Kernel {
  const js = f16ToF32Kernel();
  return stateless((src, dst, t) => widen(simd, simd.f16ToF32, js, src, dst, t));
}
