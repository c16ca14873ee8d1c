/**
 * Exact conversions among float16, bfloat16, float32 and float64, with a per-tensor loss report.
 *
 * Every conversion rounds once, to nearest with ties to even, keeps ±0 and ±inf, handles subnormals
 * both ways (no flush to zero), overflows to ±inf exactly where IEEE 754 does, and turns a NaN into a
 * quiet NaN with the same sign and as much of the payload as fits (see scalar.ts for how that differs
 * from PyTorch). float64 → float16/bfloat16 rounds from the float64 value, not through float32.
 *
 * Throughput (M elements/s), 16M elements per call, report included, best of several runs on the 2-core
 * development machine, 2026-11-29, Node 20.20, values normal(0, 0.02) like LLM weights. The machine was
 * shared with other builds (load 5–10), so single runs vary by up to 2×. "kernel" writes into memory
 * allocated beforehand; "caster" is createCaster().cast() + report(), whose fresh output buffer costs
 * page faults. Reproduce: npm run build && node dist/bench/casts.js
 *
 *   pair          caster  kernel   | PyTorch 1.13 .to(), 1 thread, no report, same machine
 *   F32 → BF16      268     358    |   853
 *   BF16 → F32      269     519    |   514
 *   F32 → F16       218     301    |   796
 *   F16 → F32       277     509    |
 *   BF16 → F16      279     364    |
 *   F16 → BF16      252     330    |
 *   F64 → BF16       91     104    |
 *   F64 → F32       192     287    |
 *
 * F32 → BF16, F32 → F16, BF16 → F32 and F16 → F32 run in WebAssembly SIMD where it is available (kernels/simd.ts,
 * same bits and report, 1.7–3.7× the JS kernels above in the same run: bench/cast-kernel.ts); the others, and
 * every pair where WebAssembly is not available, run the JS kernels.
 */
import { Buffer } from "node:buffer";
import { TruecastError } from "../errors.js";
import { dtypeSize, type FloatDType, isDType, isFloatDType } from "./table.js";
import { hostOrderInput, toLittleEndian } from "./host-order.js";
import { type Kernel, kernelFor } from "./kernels/index.js";
import { Tally } from "./tally.js";
import type { CastReport } from "./report.js";

export type { CastReport, CastSummary } from "./report.js";
export { summarize } from "./report.js";

/** Converts a tensor chunk by chunk and accumulates its loss report. */
export interface Caster {
  /**
   * Convert little-endian source elements (a whole number of them, at any byteOffset) into fresh
   * little-endian target bytes. The input is not modified.
   */
  cast(chunk: Uint8Array): Uint8Array;
  /**
   * The same, into `out` (exactly the target's byte length, aligned to its element size), so that a stream of
   * chunks can reuse its buffers. Returns `out`.
   */
  castInto(chunk: Uint8Array, out: Uint8Array): Uint8Array;
  /** The report over every element cast so far. */
  report(): CastReport;
}

/** Encodes float32 values (computed elsewhere, e.g. a LoRA merge) into a target dtype, rounding once. */
export interface Encoder {
  /** The target's little-endian bytes for `values`. */
  encode(values: Float32Array): Uint8Array;
  /** The report over every value encoded so far, with `from: "F32"`. */
  report(): CastReport;
}

function checkFloat(dtype: string, role: string): FloatDType {
  if (isDType(dtype) && isFloatDType(dtype)) return dtype;
  throw new TruecastError(
    "UNSUPPORTED_DTYPE",
    `cannot convert ${role} dtype ${JSON.stringify(dtype)}: truecast converts only between F16, BF16, F32 and F64`,
  );
}

function wholeElements(from: FloatDType, to: FloatDType, byteLength: number): number {
  const size = dtypeSize(from);
  if (byteLength % size !== 0) {
    throw new TruecastError(
      "INTERNAL",
      `cast ${from} → ${to}: a chunk of ${byteLength} bytes is not a whole number of ${size}-byte elements; ` +
        "split chunks on element boundaries",
    );
  }
  return byteLength / size;
}

/** Outputs from this size on skip zero-filling (every kernel writes every byte): it costs as much as a fast cast. */
const UNINITIALIZED_FROM_BYTES = 64 * 1024;

/** A fresh Uint8Array of its own ArrayBuffer (offset 0, so aligned for any element size). */
function freshBytes(length: number): Uint8Array {
  if (length < UNINITIALIZED_FROM_BYTES) return new Uint8Array(length);
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

/** Run `kernel` over host-order, aligned `src`, returning little-endian target bytes (in `into` when given). */
function run(kernel: Kernel, tally: Tally, src: Uint8Array, elements: number, into?: Uint8Array): Uint8Array {
  const size = dtypeSize(tally.to);
  if (into && (into.byteLength !== elements * size || into.byteOffset % size !== 0)) {
    throw new TruecastError("INTERNAL", `cast into a buffer of ${into.byteLength} bytes at offset ${into.byteOffset}: ${elements} ${tally.to} elements need ${elements * size}, aligned`);
  }
  const dst = into ?? freshBytes(elements * size);
  kernel.convert(src, dst, tally);
  tally.elements += elements;
  return toLittleEndian(dst, size);
}

/** A caster converting `from` → `to` (from === to copies, reporting only NaNs). */
export function createCaster(from: FloatDType, to: FloatDType): Caster {
  const source = checkFloat(from, "source");
  const target = checkFloat(to, "target");
  const kernel = kernelFor(source, target);
  const tally = new Tally(source, target);
  return {
    cast(chunk: Uint8Array): Uint8Array {
      const elements = wholeElements(source, target, chunk.byteLength);
      return run(kernel, tally, hostOrderInput(chunk, dtypeSize(source)), elements);
    },
    castInto(chunk: Uint8Array, out: Uint8Array): Uint8Array {
      const elements = wholeElements(source, target, chunk.byteLength);
      return run(kernel, tally, hostOrderInput(chunk, dtypeSize(source)), elements, out);
    },
    report(): CastReport {
      kernel.flush(tally);
      return tally.report();
    },
  };
}

/** An encoder from float32 values into `to`, with one rounding per value. */
export function createEncoder(to: FloatDType): Encoder {
  const target = checkFloat(to, "target");
  const kernel = kernelFor("F32", target);
  const tally = new Tally("F32", target);
  return {
    encode(values: Float32Array): Uint8Array {
      // A Float32Array is already aligned and in host order: hand its bytes to the kernel as they are.
      const src = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      return run(kernel, tally, src, values.length);
    },
    report(): CastReport {
      kernel.flush(tally);
      return tally.report();
    },
  };
}

/**
 * Decode little-endian F16, BF16 or F32 bytes into float32 values, exactly (float32 holds every value of
 * the other two; NaNs become quiet, keeping sign and payload).
 */
export function decodeToFloat32(dtype: "F16" | "BF16" | "F32", bytes: Uint8Array): Float32Array {
  const source = checkFloat(dtype, "source");
  if (source === "F64") throw new TruecastError("UNSUPPORTED_DTYPE", "decodeToFloat32 cannot decode F64 exactly");
  const elements = wholeElements(source, "F32", bytes.byteLength);
  const src = hostOrderInput(bytes, dtypeSize(source));
  const out = new Float32Array(elements);
  const dst = new Uint8Array(out.buffer);
  if (source === "F32") dst.set(src);
  else kernelFor(source, "F32").convert(src, dst, new Tally(source, "F32"));
  return out;
}
