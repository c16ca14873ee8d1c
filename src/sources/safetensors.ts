/**
 * Opens safetensors checkpoints as a SourceModel: a bare `.safetensors` file, or a Hugging Face folder
 * holding `model.safetensors` or shards listed by `model.safetensors.index.json`. Headers are read and
 * checked up front; tensor bytes are read only when a consumer iterates `chunks()`.
 */
import { readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { TruecastError } from "../errors.js";
import { SAFETENSORS_INDEX_NAME, readIndexFile, type SafetensorsIndex } from "../formats/safetensors/index-file.js";
import { readRangeChunks, readSafetensorsHeader, type SafetensorsFileHeader } from "../formats/safetensors/read.js";
import { SIDECAR_WEIGHT_FILES, scanModelFiles } from "./model-files.js";
import { checkShardContents, checkShardFiles } from "./shard-index.js";
import type { SourceModel, TensorRef } from "./tensor-ref.js";

export const SAFETENSORS_SINGLE_NAME = "model.safetensors";

/** transformers' shard names: `model-00001-of-00005.safetensors`. */
const SHARD_NAME = /^model-\d+-of-\d+\.safetensors$/;

export const SAFETENSORS_FILE_KIND = "safetensors file";
export const SAFETENSORS_FOLDER_KIND = "Hugging Face folder (safetensors)";

/** A single `.safetensors` file. It carries no other files: config and tokenizer come from a folder. */
export async function openSafetensorsFile(path: string): Promise<SourceModel> {
  const header = await readSafetensorsHeader(path);
  const weightFiles = [{ path, name: basename(path), role: "source" as const }];
  return model({ kind: SAFETENSORS_FILE_KIND, path, tensors: tensorRefs(header), files: new Map(), weightFiles, notes: [] });
}

/** Does `dir` look like a safetensors model folder (single file, index, or transformers-named shards)? */
export async function isSafetensorsFolder(dir: string): Promise<boolean> {
  try {
    if (!(await stat(dir)).isDirectory()) return false;
    const names = await readdir(dir);
    return names.some((n) => n === SAFETENSORS_SINGLE_NAME || n === SAFETENSORS_INDEX_NAME || SHARD_NAME.test(n));
  } catch {
    return false;
  }
}

/** A Hugging Face model folder with safetensors weights. */
export async function openSafetensorsFolder(dir: string): Promise<SourceModel> {
  const scan = await scanModelFiles(dir);
  const weightFiles = await safetensorsFilesIn(dir);
  const notes = scan.skipped.map((s) => `${s.name} not carried: ${s.reason}`);
  let tensors: TensorRef[];
  let read: readonly string[];
  if (weightFiles.includes(SAFETENSORS_INDEX_NAME)) {
    const index = await readIndexFile(join(dir, SAFETENSORS_INDEX_NAME));
    tensors = await openShards({ dir, index, present: weightFiles, notes });
    read = index.shards;
  } else if (weightFiles.includes(SAFETENSORS_SINGLE_NAME)) {
    const others = weightFiles.filter((n) => n !== SAFETENSORS_SINGLE_NAME);
    if (others.length > 0) {
      throw new TruecastError(
        "INDEX_MISMATCH",
        `${dir}: holds ${SAFETENSORS_SINGLE_NAME} and also ${list(others)}; it is unclear which are the model's ` +
          "weights: move the extra files out of the folder",
      );
    }
    tensors = tensorRefs(await readSafetensorsHeader(join(dir, SAFETENSORS_SINGLE_NAME)));
    read = [SAFETENSORS_SINGLE_NAME];
  } else if (weightFiles.some((n) => SHARD_NAME.test(n))) {
    throw new TruecastError(
      "NOT_FOUND",
      `${dir}: holds ${list(weightFiles)} but no ${SAFETENSORS_INDEX_NAME} saying which tensors are where; ` +
        "restore the index from where the shards came from",
    );
  } else {
    const found = weightFiles.length > 0 ? ` (it holds ${list(weightFiles)})` : "";
    throw new TruecastError(
      "UNKNOWN_SOURCE",
      `${dir}: has neither ${SAFETENSORS_SINGLE_NAME} nor ${SAFETENSORS_INDEX_NAME}${found}; it is not a safetensors ` +
        "model folder",
    );
  }
  const sidecars = new Map<string, TensorRef[]>();
  for (const name of SIDECAR_WEIGHT_FILES) {
    const info = await stat(join(dir, name)).catch(() => null);
    if (!info?.isFile()) continue;
    sidecars.set(name, tensorRefs(await readSafetensorsHeader(join(dir, name))));
    notes.push(`${name} carried beside the weights`);
  }
  const sources = [...read, ...sidecars.keys()].map((name) => ({ path: join(dir, name), name, role: "source" as const }));
  return model({
    kind: SAFETENSORS_FOLDER_KIND, path: dir, tensors, files: scan.files, weightFiles: sources, notes, ...(sidecars.size > 0 ? { sidecars } : {}),
  });
}

/**
 * Reads every shard the index names and checks that index and shards agree exactly. Tensors come in
 * shard order (sorted shard names), then each shard's file order.
 */
async function openShards(params: {
  dir: string;
  index: SafetensorsIndex;
  present: readonly string[];
  notes: string[];
}): Promise<TensorRef[]> {
  const { dir, index, present, notes } = params;
  const indexPath = join(dir, SAFETENSORS_INDEX_NAME);
  await checkShardFiles({ dir, indexPath, indexName: SAFETENSORS_INDEX_NAME, index, present });
  const headers: SafetensorsFileHeader[] = [];
  for (const shard of index.shards) headers.push(await readSafetensorsHeader(join(dir, shard)));
  checkShardContents({ dir, indexPath, index, shards: headers.map((h, i) => ({ shard: index.shards[i] ?? "", names: h.entries.map((e) => e.name) })) });
  const tensors = headers.flatMap(tensorRefs);
  const total = headers.reduce((n, h) => n + h.entries.reduce((m, e) => m + e.end - e.begin, 0), 0);
  notes.push(`read ${index.shards.length} shards through ${SAFETENSORS_INDEX_NAME}`);
  if (index.totalSize !== null && index.totalSize !== total) {
    notes.push(`${SAFETENSORS_INDEX_NAME} gives total_size ${index.totalSize}, but the shards hold ${total} bytes of tensors`);
  }
  return tensors;
}

/** The `.safetensors` files and the index, by name, at the top of `dir`. */
async function safetensorsFilesIn(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter(
    (n) =>
      !n.startsWith(".") && !SIDECAR_WEIGHT_FILES.includes(n) && (n.endsWith(".safetensors") || n === SAFETENSORS_INDEX_NAME),
  );
  const out: string[] = [];
  for (const n of names.sort()) {
    const info = await stat(join(dir, n)).catch(() => null);
    if (info?.isFile() === true) out.push(n);
  }
  return out;
}

function tensorRefs(header: SafetensorsFileHeader): TensorRef[] {
  const origin = basename(header.path);
  return header.entries.map((e) => {
    const start = header.dataStart + e.begin;
    const byteLength = e.end - e.begin;
    return {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      byteLength,
      origin,
      chunks: (chunkSize: number, alloc?: (n: number) => Uint8Array) => readRangeChunks(header.path, start, byteLength, chunkSize, alloc),
    };
  });
}

function model(params: Omit<SourceModel, "close">): SourceModel {
  // Handles are opened per read and closed after it, so there is nothing to release.
  return { ...params, close: async () => {} };
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}
