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
