/** Small model folders written byte by byte for the publish tests. */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export interface TensorSpec {
  name: string;
  dtype: "BF16" | "F16" | "F32" | "I64";
  shape: number[];
}

const SIZE: Record<TensorSpec["dtype"], number> = { BF16: 2, F16: 2, F32: 4, I64: 8 };

/** A safetensors file: 8-byte LE length, space-padded JSON header, data with a recognisable byte pattern. */
export function safetensorsBytes(tensors: TensorSpec[], seed = 1): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * SIZE[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  const data = Buffer.alloc(offset);
  for (let i = 0; i < offset; i++) data[i] = (i * 31 + seed * 7) & 0xff;
  return Buffer.concat([prefix, Buffer.from(json, "utf8"), data]);
}

async function put(dir: string, path: string, bytes: Buffer | string): Promise<void> {
  await mkdir(dirname(join(dir, path)), { recursive: true });
  await writeFile(join(dir, path), bytes);
}

/**
 * A two-shard bfloat16 model: index, config.json (torch_dtype and dtype), tokenizer.json, a README in a
 * sub-folder, and a hidden file that must not be published. `rows` scales the shard size.
 */
export async function writeModelFolder(dir: string, opts: { rows?: number; configDtype?: string } = {}): Promise<string[]> {
  const rows = opts.rows ?? 4;
  const shard1: TensorSpec[] = [
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [rows, 8] },
    { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [rows, 8] },
  ];
  const shard2: TensorSpec[] = [
    { name: "lm_head.weight", dtype: "BF16", shape: [rows, 8] },
    { name: "model.norm.weight", dtype: "F32", shape: [8] },
  ];
  await put(dir, "model-00001-of-00002.safetensors", safetensorsBytes(shard1, 1));
  await put(dir, "model-00002-of-00002.safetensors", safetensorsBytes(shard2, 2));
  const weightMap: Record<string, string> = {};
  for (const t of shard1) weightMap[t.name] = "model-00001-of-00002.safetensors";
  for (const t of shard2) weightMap[t.name] = "model-00002-of-00002.safetensors";
  const total = [...shard1, ...shard2].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * SIZE[t.dtype], 0);
  await put(dir, "model.safetensors.index.json", JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + "\n");
  const dtype = opts.configDtype ?? "bfloat16";
  await put(dir, "config.json", JSON.stringify({ architectures: ["LlamaForCausalLM"], torch_dtype: dtype, dtype }, null, 2) + "\n");
  await put(dir, "tokenizer.json", JSON.stringify({ version: "1.0", model: { type: "BPE", vocab: { a: 0, b: 1 } } }));
  await put(dir, "docs/README.md", "# test model\n");
  await put(dir, ".cache/ignored.txt", "must not be published\n");
  await put(dir, ".hidden", "must not be published\n");
  return [
    "config.json", "docs/README.md", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    "model.safetensors.index.json", "tokenizer.json",
  ];
}
