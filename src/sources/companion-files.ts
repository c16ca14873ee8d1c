/**
 * The small files that make weights loadable (config, tokenizer, generation settings), found next to a single
 * checkpoint file, and the one weight file of a folder that holds nothing else to load.
 */
import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { TruecastError } from "../errors.js";
import { TOKENIZER_FILES } from "./h2o.js";

/** Files whose presence means the folder has a tokenizer transformers' AutoTokenizer can load. */
export const TOKENIZER_FILE_NAMES: readonly string[] = [
  "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
];

/** Every tokenizer file (those above and the ones that go with them: special tokens, merges, chat template). */
export const ALL_TOKENIZER_FILES: readonly string[] = [...new Set([...TOKENIZER_FILES, ...TOKENIZER_FILE_NAMES])];

/** What a single checkpoint file carries from its folder: only these names, never the folder's other files. */
export const COMPANION_FILES: readonly string[] = ["config.json", "generation_config.json", ...ALL_TOKENIZER_FILES];

/** Extensions of a weight file a folder may hold as its only model (`ckpt.pt` + config.json). */
const SINGLE_WEIGHT_EXTENSIONS = new Set([".pt", ".pth", ".bin", ".ckpt", ".safetensors"]);

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

/**
 * The one weight file (`*.pt`, `*.pth`, `*.bin`, `*.ckpt`, `*.safetensors`) at the top of `dir`, or null when there
 * is none. Several are refused by name: which one is the model is the user's call.
 */
export async function singleWeightFile(dir: string): Promise<string | null> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith(".") && SINGLE_WEIGHT_EXTENSIONS.has(extname(n).toLowerCase())).sort();
  const files: string[] = [];
  for (const n of names) if (await isFile(join(dir, n))) files.push(n);
  if (files.length === 0) return null;
  if (files.length > 1) {
    throw new TruecastError(
      "UNKNOWN_SOURCE",
      `${dir} holds several weight files (${files.join(", ")}) and no model index; pass the checkpoint file itself, e.g. truecast export ${join(dir, files[0] ?? "")} <out>`,
    );
  }
  return join(dir, files[0] ?? "");
}
