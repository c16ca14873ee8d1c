/** Small helpers to read adapter tensors whole. */
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
