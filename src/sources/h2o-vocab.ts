import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTopLevelMembers } from "../formats/json-edit.js";
import { CONFIG_FILE, parseSideJson, readSideFile } from "../formats/side-file.js";
import type { TensorRef } from "./tensor-ref.js";

/**
 * H2O LLM Studio resizes the token embeddings when its tokenizer is longer than the base config's `vocab_size`
 * (`create_nlp_backbone`: `resize_token_embeddings(cfg.tokenizer._vocab_length)`), and its own export saves the
 * resized config. An experiment rarely holds config.json, so the base model's is used, which then states the old
 * size, and transformers refuses to load the weights. This writes a copy of config.json whose `vocab_size` matches
 * the embedding rows actually in the checkpoint (nothing else changed), and says so.
 */

/** Input-embedding names across the architectures transformers knows (Llama, GPT-2, BLOOM, GPT-NeoX, ...). */
const EMBEDDING = /(^|\.)(embed_tokens|wte|word_embeddings|embed_in)\.weight$/;

export interface VocabFix {
  /** Path of the corrected config.json (in a temporary folder that `cleanup` removes). */
  readonly configPath: string;
  readonly note: string;
  readonly cleanup: () => Promise<void>;
}

export async function fixVocabSize(params: { configPath: string; tensors: readonly TensorRef[] }): Promise<VocabFix | null> {
  const embedding = params.tensors.find((t) => EMBEDDING.test(t.name) && t.shape.length === 2);
  const rows = embedding?.shape[0];
  if (embedding === undefined || rows === undefined) return null;
  const text = await readSideFile(params.configPath, CONFIG_FILE);
  const config = parseSideJson(text, params.configPath, CONFIG_FILE);
  if (typeof config !== "object" || config === null || Array.isArray(config)) return null;
  const record = config as Record<string, unknown>;
  const vocab = record["vocab_size"];
  if (typeof vocab !== "number" || vocab >= rows) return null;
  const dir = await mkdtemp(join(tmpdir(), "truecast-h2o-config-"));
  const configPath = join(dir, "config.json");
  // Edited, not re-serialized: every other byte (`2.0`, `1e-05`, key order) stays as the base model wrote it.
  await writeFile(configPath, setTopLevelMembers(text, [{ key: "vocab_size", json: String(rows) }]));
  return {
    configPath,
    note: `config.json: vocab_size ${vocab} → ${rows} to match ${embedding.name} (H2O resized the embeddings for its tokenizer)`,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
