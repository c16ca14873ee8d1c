/** Small helpers to read adapter tensors whole and base tensors as exact row blocks. */
import { TruecastError } from "../../errors.js";
import { decodeToFloat32 } from "../../dtype/cast.js";
import type { TensorRef } from "../../sources/tensor-ref.js";

/** Chunk size asked of sources when reading a small tensor whole (a multiple of 8, as TensorRef requires). */
const READ_CHUNK = 1 << 22;

export type DecodableDType = "F16" | "BF16" | "F32";

export function isDecodable(d: string): d is DecodableDType {
  return d === "F16" || d === "BF16" || d === "F32";
}

/** All bytes of a tensor, in one buffer. For adapter factors and biases, which are small. */
export async function readAllBytes(ref: TensorRef): Promise<Uint8Array> {
  const out = new Uint8Array(ref.byteLength);
  let at = 0;
  for await (const chunk of ref.chunks(READ_CHUNK)) {
    if (at + chunk.byteLength > out.byteLength) break;
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== ref.byteLength) {
    throw new TruecastError("UNREADABLE", `${ref.origin}: tensor "${ref.name}" gave ${at} bytes instead of ${ref.byteLength}`);
  }
  return out;
}

/** A float tensor decoded to float32 (exact). */
export async function readFloat32(ref: TensorRef, file: string): Promise<Float32Array> {
  if (!isDecodable(ref.dtype)) {
    throw new TruecastError("UNSUPPORTED_DTYPE", `${file}: tensor "${ref.name}" is ${ref.dtype}; LoRA tensors must be F16, BF16 or F32`);
  }
  return decodeToFloat32(ref.dtype, await readAllBytes(ref));
}

/**
 * Re-cut a chunk stream into buffers of exactly `size` bytes (the last one may be shorter), so that every
 * buffer holds whole rows. Fails if the source gives more or fewer than `total` bytes.
 */
export async function* exactBlocks(params: { source: AsyncIterable<Uint8Array>; size: number; total: number; what: string }): AsyncGenerator<Uint8Array> {
  const { size, total } = params;
  let block = new Uint8Array(Math.min(size, total));
  let filled = 0;
  let seen = 0;
  for await (const chunk of params.source) {
    seen += chunk.byteLength;
    if (seen > total) break;
    let from = 0;
    while (from < chunk.byteLength) {
      const n = Math.min(block.byteLength - filled, chunk.byteLength - from);
      block.set(chunk.subarray(from, from + n), filled);
      filled += n;
      from += n;
      if (filled === block.byteLength) {
        yield block;
        const left = total - (seen - (chunk.byteLength - from));
        block = new Uint8Array(Math.min(size, left));
        filled = 0;
        if (left === 0) break;
      }
    }
  }
  if (seen !== total) throw new TruecastError("UNREADABLE", `${params.what}: source gave ${seen} bytes instead of ${total}`);
}
