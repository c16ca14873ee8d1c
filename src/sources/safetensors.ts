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
import type { DType } from "../dtype/table.js";
import { SMALL_READ_MAX, SmallReads } from "./small-reads.js";

export const SAFETENSORS_SINGLE_NAME = "model.safetensors";

/** transformers' shard names: `model-00001-of-00005.safetensors`. */
const SHARD_NAME = /^model-\d+-of-\d+\.safetensors$/;

export const SAFETENSORS_FILE_KIND = "safetensors file";
export const SAFETENSORS_FOLDER_KIND = "Hugging Face folder (safetensors)";

/** A single `.safetensors` file. It carries no other files: config and tokenizer come from a folder. */
export async function openSafetensorsFile(path: string): Promise<SourceModel> {
  const header = await readSafetensorsHeader(path);
  return model({ kind: SAFETENSORS_FILE_KIND, path, tensors: tensorRefs(header), files: new Map(), notes: [] });
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
  if (weightFiles.includes(SAFETENSORS_INDEX_NAME)) {
    const index = await readIndexFile(join(dir, SAFETENSORS_INDEX_NAME));
    tensors = await openShards({ dir, index, present: weightFiles, notes });
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
  return model({ kind: SAFETENSORS_FOLDER_KIND, path: dir, tensors, files: scan.files, notes, ...(sidecars.size > 0 ? { sidecars } : {}) });
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
  checkShardContents({ dir, indexPath, index, shards: headers.map((h, i) => ({ shard: index.shards[i] ?? "", names: namesOf(h) })) });
  const tensors: TensorRef[] = [];
  for (const h of headers) for (const t of tensorRefs(h)) tensors.push(t);
  const total = headers.reduce((n, h) => n + (h.tensors.count > 0 ? h.tensors.end(h.tensors.count - 1) : 0), 0);
  notes.push(`read ${index.shards.length} shards through ${SAFETENSORS_INDEX_NAME}`);
  if (index.totalSize !== null && index.totalSize !== total) {
    notes.push(`${SAFETENSORS_INDEX_NAME} gives total_size ${index.totalSize}, but the shards hold ${total} bytes of tensors`);
  }
  return tensors;
}

/** The `.safetensors` weight files and the index (sidecars aside), by name, at the top of `dir`. */
export async function safetensorsFilesIn(dir: string): Promise<string[]> {
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

/** Every tensor name of a shard, in offset order. */
function namesOf(header: SafetensorsFileHeader): string[] {
  return Array.from({ length: header.tensors.count }, (_, i) => header.tensors.name(i));
}

/**
 * One tensor of a file as a view on its header's table: two fields, whatever the shape and name length, so that a
 * file of a million tensors costs a few dozen bytes per tensor beyond the table.
 */
class FileTensor implements TensorRef {
  constructor(
    private readonly header: SafetensorsFileHeader & { readonly origin: string; readonly small: SmallReads },
    private readonly i: number,
  ) {}

  get name(): string {
    return this.header.tensors.name(this.i);
  }

  get dtype(): DType {
    return this.header.tensors.dtype(this.i);
  }

  get shape(): readonly number[] {
    return this.header.tensors.shape(this.i);
  }

  get byteLength(): number {
    return this.header.tensors.end(this.i) - this.header.tensors.begin(this.i);
  }

  get origin(): string {
    return this.header.origin;
  }

  get metadata(): Readonly<Record<string, string>> | null {
    return this.header.metadata;
  }

  chunks(chunkSize: number, alloc?: (n: number) => Uint8Array): AsyncIterable<Uint8Array> {
    const start = this.header.dataStart + this.header.tensors.begin(this.i);
    const length = this.byteLength;
    const { path, small } = this.header;
    if (length === 0 || length > SMALL_READ_MAX || length > chunkSize) return readRangeChunks(path, start, length, chunkSize, alloc);
    return (async function* () {
      const bytes = await small.bytes(start, length, alloc);
      if (bytes) yield bytes;
      else yield* readRangeChunks(path, start, length, chunkSize, alloc);
    })();
  }
}

/**
 * The `__metadata__` of the file a tensor of this source was read from (null when the file has none), or undefined
 * for a tensor that came from elsewhere: what `inspect` shows without reading the header a second time.
 */
export function fileMetadataOf(ref: TensorRef): Readonly<Record<string, string>> | null | undefined {
  return ref instanceof FileTensor ? ref.metadata : undefined;
}

function tensorRefs(header: SafetensorsFileHeader): TensorRef[] {
  const file = Object.assign(header, { origin: basename(header.path), small: new SmallReads(header.path, header.fileSize) });
  return Array.from({ length: header.tensors.count }, (_, i) => new FileTensor(file, i));
}

function model(params: Omit<SourceModel, "close">): SourceModel {
  // Handles are opened per read and closed after it, so there is nothing to release.
  return { ...params, close: async () => {} };
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}
