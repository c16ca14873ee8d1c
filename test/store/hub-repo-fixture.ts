/**
 * A small sharded model repo generated at test time and seeded into the Hub double: config.json, the index and
 * `shards` safetensors shards of pseudo-random bf16 weights (each larger than the default read-ahead block), plus
 * a README and a nested file.
 */
import { createHash } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { safetensorsBytes, bf16Weights } from "../support/build-model.js";
import type { HubDouble } from "../support/hub-double.js";

export interface SeededRepo {
  id: string;
  files: Record<string, Uint8Array>;
  commit: string;
}

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** The files of a repo with `shards` shards of `tensorsPerShard` tensors of `elements` bf16 values each. */
export function repoFiles(shards: number, tensorsPerShard = 4, elements = 256 * 1024): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const tensors = Array.from({ length: tensorsPerShard }, (_, i) => ({
      name: `model.layers.${s}.w${i}.weight`, dtype: "BF16" as const, shape: [elements], data: bf16Weights(elements, s * 100 + i + 1),
    }));
    for (const t of tensors) {
      weightMap[t.name] = name;
      total += t.data.byteLength;
    }
    files[name] = safetensorsBytes(tensors);
  }
  files["model.safetensors.index.json"] = Buffer.from(JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  files["config.json"] = Buffer.from(JSON.stringify({ model_type: "llama", torch_dtype: "bfloat16" }, null, 2));
  files["README.md"] = Buffer.from("---\nlicense: mit\n---\n# tiny\n");
  files["extra/notes.txt"] = Buffer.from("nested\n");
  return files;
}

export async function seedRepo(d: HubDouble, id: string, files: Record<string, Uint8Array>, opts: { private?: boolean; gated?: string[] } = {}): Promise<SeededRepo> {
  const repo = await d.state.seed(id, files, opts);
  return { id, files, commit: repo.refs.get("main") ?? "" };
}

/** An environment that points at the double and at an empty HF_HOME (no token file of the machine is read). */
export async function hubEnv(d: HubDouble, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const home = await mkdtemp(join(tmpdir(), "tc-hf-home-"));
  // The resume journal of export --push goes there too, never into the user's cache.
  return { HF_ENDPOINT: d.url, HF_HOME: home, TRUECAST_CACHE: join(home, "truecast"), ...extra };
}
