import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DType } from "../../src/dtype/table.js";
import { layoutTensors, serializeHeader } from "../../src/formats/safetensors/header.js";

export interface TestTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** A safetensors file laid out as the reference writer lays it out. */
export function safetensorsBytes(tensors: readonly TestTensor[], metadata: Record<string, string> | null = { format: "pt" }): Uint8Array {
  const entries = layoutTensors(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength })));
  const header = serializeHeader(entries, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return Buffer.concat([header, ...entries.map((e) => byName.get(e.name)?.data ?? new Uint8Array())]);
}

export async function writeSafetensors(path: string, tensors: readonly TestTensor[]): Promise<void> {
  await writeFile(path, safetensorsBytes(tensors));
}

/** A Hugging Face folder: model.safetensors plus a config.json and any other small files. */
export async function writeModelFolder(
  dir: string,
  params: { tensors: readonly TestTensor[]; config?: Record<string, unknown>; files?: Record<string, string> },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, "model.safetensors"), params.tensors);
  if (params.config) await writeFile(join(dir, "config.json"), JSON.stringify(params.config, null, 2) + "\n");
  for (const [name, text] of Object.entries(params.files ?? {})) await writeFile(join(dir, name), text);
}

/** Float32 little-endian bytes. */
export function f32(values: readonly number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** bfloat16 bytes from exact bit patterns. */
export function u16(bits: readonly number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(bits).buffer);
}

/** bfloat16 bytes of values that are exactly representable (their float32 low half must be zero). */
export function bf16(values: readonly number[]): Uint8Array {
  const f = new Float32Array(values);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u.length; i++) {
    const w = u[i] ?? 0;
    if ((w & 0xffff) !== 0) throw new Error(`${values[i]} is not exact in bfloat16`);
    out[i] = w >>> 16;
  }
  return new Uint8Array(out.buffer);
}

/** Deterministic pseudo-random bytes (xorshift), so tests never depend on zeros. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Deterministic bfloat16 weights of modest magnitude (finite, no NaN), `n` elements. */
export function bf16Weights(n: number, seed = 7): Uint8Array {
  const out = new Uint16Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // sign, exponent 0x70..0x7e (about 2^-15 .. 0.5), random mantissa
    const sign = x & 0x8000;
    const exp = 0x70 + ((x >>> 16) % 15);
    out[i] = sign | (exp << 7) | ((x >>> 8) & 0x7f);
  }
  return new Uint8Array(out.buffer);
}

/**
 * A folder of three tensors of about 4 KB (one shard each at --max-shard-size 5KB): two bfloat16, one float32, and
 * config.json; with `overflow`, the float32 one holds 1e10 (float16 max is 65504). `files`: more small files.
 */
export async function threeTensorFolder(dir: string, opts: { overflow?: boolean; files?: Record<string, string> } = {}): Promise<void> {
  await writeModelFolder(dir, {
    tensors: [
      { name: "a.weight", dtype: "BF16", shape: [2048], data: bf16Weights(2048, 1) },
      { name: "b.weight", dtype: "BF16", shape: [2048], data: bf16Weights(2048, 2) },
      { name: "z.weight", dtype: "F32", shape: [1024], data: f32(Array.from({ length: 1024 }, (_, i) => (opts.overflow === true && i === 1000 ? 1e10 : i / 1024))) },
    ],
    config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
    ...(opts.files ? { files: opts.files } : {}),
  });
}
