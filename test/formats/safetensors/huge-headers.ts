/**
 * Generators of valid-but-huge safetensors files, written at test time (never committed): headers close to
 * the reference reader's 100 MB limit that cost a JSON-tree reader gigabytes, and files with very many tensors.
 */
import { open } from "node:fs/promises";

/** Writes a safetensors file from header text (padded to 8 bytes with spaces) and a count of zero data bytes. */
async function writeFile(path: string, headerParts: readonly string[], dataBytes: number): Promise<void> {
  const json = Buffer.from(headerParts.join(""), "latin1");
  const size = Math.ceil(json.length / 8) * 8;
  const prefix = Buffer.alloc(8 + (size - json.length), 0x20);
  prefix.writeBigUInt64LE(BigInt(size), 0);
  const handle = await open(path, "w");
  try {
    await handle.write(prefix, 0, 8);
    await handle.write(json);
    await handle.write(prefix, 8, size - json.length);
    for (let left = dataBytes; left > 0; left -= 1 << 20) await handle.write(Buffer.alloc(Math.min(left, 1 << 20)));
  } finally {
    await handle.close();
  }
}

/** One float32 scalar-sized tensor whose shape is `rank` ones: "1," per dimension (49M of them make 98 MB). */
export async function writeHighRank(path: string, rank: number): Promise<void> {
  const dims = "1,".repeat(rank - 1) + "1";
  await writeFile(path, [`{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[`, dims, `],"data_offsets":[0,4]}}`], 4);
}

/** `entries` metadata entries whose values are `valueLength` characters each, and one tensor. */
export async function writeBigMetadata(path: string, entries: number, valueLength: number): Promise<void> {
  const value = "m".repeat(valueLength);
  const parts = ['{"__metadata__":{"format":"pt"'];
  for (let i = 0; i < entries; i++) parts.push(`,"k${i}":"${value}"`);
  parts.push('},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}');
  await writeFile(path, parts, 1);
}

/** `count` one-byte U8 tensors named `model.layers.<i>.w`, in offset order. */
export async function writeManyTensors(path: string, count: number): Promise<void> {
  const parts = ['{"__metadata__":{"format":"pt"}'];
  for (let i = 0; i < count; i++) parts.push(`,"model.layers.${i}.w":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`);
  parts.push("}");
  await writeFile(path, parts, count);
}

/** The name of tensor `i` of {@link writeExpertShard}: `layers.<l>.experts.<e>.w<1-3>.weight` (Mistral's MoE naming). */
export function expertTensorName(i: number, experts = 4096): string {
  return `layers.${Math.floor(i / (3 * experts))}.experts.${Math.floor(i / 3) % experts}.w${(i % 3) + 1}.weight`;
}

/**
 * The bytes of tensor `i` of {@link writeExpertShard}, one element: F16 holds `i` mod 2^16 as its bit pattern
 * (copied, never computed with); F32 holds the finite value 1 + (i mod 4096) / 4096, exact in bfloat16 only when
 * i mod 4096 < 128, so a conversion rounds most of them.
 */
export function expertTensorBytes(i: number, dtype: "F16" | "F32"): Uint8Array {
  if (dtype === "F16") return new Uint8Array([i & 0xff, (i >>> 8) & 0xff]);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setFloat32(0, 1 + (i % 4096) / 4096, true);
  return out;
}

/**
 * A shard of `count` one-element tensors named as a mixture-of-experts model names them (~32 characters), in
 * name-generation order, written piece by piece (a million tensors make a ~95 MB header, under the 100 MB limit).
 */
export async function writeExpertShard(path: string, count: number, dtype: "F16" | "F32"): Promise<void> {
  const size = dtype === "F16" ? 2 : 4;
  let text = '{"__metadata__":{"format":"pt"}';
  const pieces: Buffer[] = [];
  let headerLength = 0;
  for (let i = 0; i < count; i++) {
    text += `,"${expertTensorName(i)}":{"dtype":"${dtype}","shape":[1],"data_offsets":[${i * size},${(i + 1) * size}]}`;
    if (text.length > 1 << 20 || i === count - 1) {
      pieces.push(Buffer.from(text, "latin1"));
      headerLength += text.length;
      text = "";
    }
  }
  pieces.push(Buffer.from(text + "}", "latin1"));
  headerLength += text.length + 1;
  const padded = Math.ceil(headerLength / 8) * 8;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded), 0);
  const handle = await open(path, "w");
  try {
    await handle.write(prefix);
    for (const p of pieces) await handle.write(p);
    await handle.write(Buffer.alloc(padded - headerLength, 0x20));
    const data = Buffer.alloc(Math.min(count, 1 << 18) * size);
    for (let done = 0; done < count; ) {
      const n = Math.min(count - done, data.length / size);
      for (let j = 0; j < n; j++) data.set(expertTensorBytes(done + j, dtype), j * size);
      await handle.write(data, 0, n * size);
      done += n;
    }
  } finally {
    await handle.close();
  }
}
