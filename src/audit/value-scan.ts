/**
 * `audit --values`: every floating tensor streamed once through its store file (`StoreFile.chunks`, or a torch
 * view's strided reads), in file order, with bounded memory (one chunk at a time per tensor), counting per tensor
 * what the damage signatures need and digesting its bytes (so that copies can be compared). Counting works on the
 * bit patterns: no value is decoded except the largest magnitude.
 */
import { f16BitsToF32, f32Value, bf16BitsToF32 } from "../dtype/scalar.js";
import { HI, hostOrderInput } from "../dtype/host-order.js";
import { dtypeSize, isDType, isFloatDType, type FloatDType } from "../dtype/table.js";
import { viewChunks } from "../formats/torch/read-view.js";
import type { ModelStore } from "../store/store.js";
import { createDigest } from "../util/digest.js";
import type { AuditTensor } from "./read-model.js";

/** Bytes read per chunk: large enough for few remote ranges, small enough to keep memory flat. */
export const VALUE_CHUNK_BYTES = 8 * 1024 * 1024;

/** What one floating tensor's values hold. */
export interface ValueStats {
  readonly elements: number;
  readonly nan: number;
  readonly posInf: number;
  readonly negInf: number;
  readonly zero: number;
  /** Non-zero values below the dtype's smallest normal. */
  readonly subnormal: number;
  /** Values at exactly ±65504, the float16 maximum (a clamp, or a float16 overflow rounded down). */
  readonly atF16Max: number;
  /** Finite values that float16 cannot hold (|x| ≥ 65520 rounds to ±inf); 0 for float16 itself. */
  readonly overF16: number;
  /** Largest finite magnitude (0 when there is none). */
  readonly absMax: number;
  /** Digest of the tensor's logical bytes (util/digest.ts). */
  readonly digest: string;
}

class Counter {
  nan = 0; posInf = 0; negInf = 0; zero = 0; subnormal = 0; atF16Max = 0; overF16 = 0; absMax = 0; elements = 0;
  /** Largest finite magnitude as a bit pattern (for 16- and 32-bit types), decoded at the end. */
  maxBits = 0;

  add(dtype: FloatDType, b: Uint8Array): void {
    const size = dtypeSize(dtype);
    const host = hostOrderInput(b, size);
    const n = host.byteLength / size;
    this.elements += n;
    if (dtype === "F16" || dtype === "BF16") {
      const v = new Uint16Array(host.buffer, host.byteOffset, n);
      const f16 = dtype === "F16";
      const inf = f16 ? 0x7c00 : 0x7f80;
      const minNormal = f16 ? 0x0400 : 0x0080;
      for (let i = 0; i < n; i++) {
        const h = v[i] as number;
        const a = h & 0x7fff;
        if (a >= inf) {
          if (a > inf) this.nan++;
          else if (h & 0x8000) this.negInf++;
          else this.posInf++;
          continue;
        }
        if (a === 0) this.zero++;
        else if (a < minNormal) this.subnormal++;
        if (a > this.maxBits) this.maxBits = a;
        if (f16) {
          if (a === 0x7bff) this.atF16Max++;
        } else if (a >= 0x4780) this.overF16++;
      }
    } else if (dtype === "F32") {
      const v = new Uint32Array(host.buffer, host.byteOffset, n);
      for (let i = 0; i < n; i++) {
        const u = v[i] as number;
        const a = u & 0x7fffffff;
        if (a >= 0x7f800000) {
          if (a > 0x7f800000) this.nan++;
          else if (u >>> 31) this.negInf++;
          else this.posInf++;
          continue;
        }
        if (a === 0) this.zero++;
        else if (a < 0x00800000) this.subnormal++;
        if (a > this.maxBits) this.maxBits = a;
        if (a >= 0x477ff000) this.overF16++;
        else if (a === 0x477fe000) this.atF16Max++;
      }
    } else {
      const v = new Float64Array(host.buffer, host.byteOffset, n);
      const words = new Uint32Array(host.buffer, host.byteOffset, n * 2);
      for (let i = 0; i < n; i++) {
        const x = v[i] as number;
        if (Number.isNaN(x)) { this.nan++; continue; }
        if (x === Infinity) { this.posInf++; continue; }
        if (x === -Infinity) { this.negInf++; continue; }
        const a = Math.abs(x);
        if (a === 0) this.zero++;
        else if (((words[2 * i + HI] as number) & 0x7ff00000) === 0) this.subnormal++;
        if (a > this.absMax) this.absMax = a;
        if (a >= 65520) this.overF16++;
        else if (a === 65504) this.atF16Max++;
      }
    }
  }

  result(dtype: FloatDType, digest: string): ValueStats {
    const absMax =
      dtype === "F16" ? f32Value(f16BitsToF32(this.maxBits)) : dtype === "BF16" ? f32Value(bf16BitsToF32(this.maxBits)) : dtype === "F32" ? f32Value(this.maxBits) : this.absMax;
    const { elements, nan, posInf, negInf, zero, subnormal, atF16Max, overF16 } = this;
    return { elements, nan, posInf, negInf, zero, subnormal, atF16Max, overF16, absMax, digest };
  }
}

/** Is this a tensor whose values `--values` scans? */
export function scannable(t: AuditTensor): t is AuditTensor & { dtype: FloatDType } {
  return isDType(t.dtype) && isFloatDType(t.dtype);
}

/**
 * Scans the values of `tensors` (floating ones; others are skipped), file by file in byte order. `onTensor` is
 * told after each, for progress. Returns stats by tensor (the same objects as given).
 */
export async function scanValues(params: {
  store: ModelStore;
  tensors: readonly AuditTensor[];
  chunkBytes?: number;
  onTensor?: (t: AuditTensor, bytes: number) => void;
  signal?: AbortSignal;
}): Promise<Map<AuditTensor, ValueStats>> {
  const chunkBytes = params.chunkBytes ?? VALUE_CHUNK_BYTES;
  const out = new Map<AuditTensor, ValueStats>();
  const byFile = new Map<string, (AuditTensor & { dtype: FloatDType })[]>();
  for (const t of params.tensors) if (scannable(t)) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
  for (const [path, tensors] of byFile) {
    tensors.sort((a, b) => a.start - b.start);
    const file = await params.store.open(path);
    try {
      for (const t of tensors) {
        params.signal?.throwIfAborted();
        const counter = new Counter();
        const digest = createDigest();
        const size = dtypeSize(t.dtype);
        let carry: Uint8Array | null = null;
        const chunks = t.view !== undefined
          ? viewChunks({ path, tensor: t.view, chunkSize: chunkBytes, file })
          : file.chunks(t.start, t.byteLength, chunkBytes);
        for await (const chunk of chunks) {
          digest.update(chunk);
          let bytes = chunk;
          if (carry !== null) {
            bytes = new Uint8Array(carry.length + chunk.length);
            bytes.set(carry);
            bytes.set(chunk, carry.length);
            carry = null;
          }
          const whole = bytes.length - (bytes.length % size);
          if (whole < bytes.length) carry = bytes.slice(whole);
          if (whole > 0) counter.add(t.dtype, bytes.subarray(0, whole));
        }
        out.set(t, counter.result(t.dtype, digest.digest()));
        params.onTensor?.(t, t.byteLength);
      }
    } finally {
      await file.close();
    }
  }
  return out;
}
