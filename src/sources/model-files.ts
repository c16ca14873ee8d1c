/**
 * The small files of a Hugging Face model folder that travel into an export unchanged (config, tokenizer,
 * chat template, preprocessor configs, README, LICENSE, ...). Weights never come from here: weight files,
 * their indexes, hidden files, subfolders and anything very large are left behind.
 */
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { folderError } from "../store/local-store.js";

/**
 * Largest file carried along. The biggest legitimate companions are tokenizer files (a 256k-token
 * tokenizer.json is ~35 MB); a file past this is data, not metadata, and is reported instead.
 */
export const MAX_CARRIED_FILE_SIZE = 100_000_000;

/** Extensions of weight files: never carried, the export writes its own weights. */
export const WEIGHT_EXTENSIONS = [
  ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx", ".onnx_data",
] as const;

export interface ModelFilesScan {
  /** Name in the output folder → absolute path, sorted by name. */
  files: Map<string, string>;
  /** Files left behind that a user might have expected to travel, with the reason, for the report. */
  skipped: Array<{ name: string; reason: string }>;
}

/**
 * Weight files that travel beside a model's weights rather than inside them: the heads H2O LLM Studio ships
 * as files of their own, which truecast writes as safetensors.
 */
export const SIDECAR_WEIGHT_FILES: readonly string[] = ["classification_head.safetensors", "regression_head.safetensors"];

/** Is `name` a weight file or the index of one (`model.safetensors.index.json`, `pytorch_model.bin.index.json`)? */
export function isWeightFileName(name: string): boolean {
  const lower = name.toLowerCase();
  const base = lower.endsWith(".index.json") ? lower.slice(0, -".index.json".length) : lower;
  return WEIGHT_EXTENSIONS.some((ext) => base.endsWith(ext));
}

/**
 * The carried files of `dir` (top level only, symlinks followed, as in the Hub cache's snapshots). Where a link
 * points is checked by the export before it copies anything (export/carried-files.ts): only inside `dir`, or the
 * cache repository folder of a snapshot.
 */
export async function scanModelFiles(dir: string): Promise<ModelFilesScan> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw folderError(dir, e);
  }
  names.sort();
  const files = new Map<string, string>();
  const skipped: ModelFilesScan["skipped"] = [];
  for (const name of names) {
    // truecast-report.json describes the export that wrote this folder, not the one reading it: never carried.
    if (name.startsWith(".") || isWeightFileName(name) || name === "truecast-report.json") continue;
    const path = resolve(join(dir, name));
    let info;
    try {
      info = await stat(path);
    } catch {
      skipped.push({ name, reason: "cannot be read (a broken link?)" });
      continue;
    }
    if (!info.isFile()) continue;
    if (info.size >= MAX_CARRIED_FILE_SIZE) {
      skipped.push({ name, reason: `${info.size} bytes; carried files must be under ${MAX_CARRIED_FILE_SIZE} bytes` });
      continue;
    }
    files.set(name, path);
  }
  return { files, skipped };
}

/** {@link scanModelFiles}, files only. */
export async function collectModelFiles(dir: string): Promise<Map<string, string>> {
  return (await scanModelFiles(dir)).files;
}
