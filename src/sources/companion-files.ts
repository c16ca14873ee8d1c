/**
 * The small files that make weights loadable (config, tokenizer, generation settings), found next to a single
 * checkpoint file.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { TOKENIZER_FILES } from "./h2o.js";

/** Files whose presence means the folder has a tokenizer transformers' AutoTokenizer can load. */
export const TOKENIZER_FILE_NAMES: readonly string[] = [
  "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
];

/** Every tokenizer file (those above and the ones that go with them: special tokens, merges, chat template). */
export const ALL_TOKENIZER_FILES: readonly string[] = [...new Set([...TOKENIZER_FILES, ...TOKENIZER_FILE_NAMES])];

/** What a single checkpoint file carries from its folder: only these names, never the folder's other files. */
export const COMPANION_FILES: readonly string[] = ["config.json", "generation_config.json", ...ALL_TOKENIZER_FILES];

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The companion files (config, generation config, tokenizer) in `dir`, name → path. Where they really point is
 * checked by the export before anything is copied (inside `dir` only, as for every carried file).
 */
export async function companionFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of COMPANION_FILES) if (await isFile(join(dir, name))) out.set(name, join(dir, name));
  return out;
}
