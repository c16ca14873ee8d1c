/**
 * Opens safetensors checkpoints as a SourceModel: a bare `.safetensors` file, or a Hugging Face folder
 * holding `model.safetensors` or shards listed by `model.safetensors.index.json`. Headers are read and
 * checked up front; tensor bytes are read only when a consumer iterates `chunks()`. Every file is read through a
 * ModelStore (a local folder, or a Hub repo read in place), each tensor's file opened for its read and closed after.
 */
import { readdir, stat } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { TruecastError } from "../errors.js";
import { SAFETENSORS_INDEX_NAME, parseIndex, type SafetensorsIndex } from "../formats/safetensors/index-file.js";
import { readSafetensorsHeaderFrom, type SafetensorsFileHeader } from "../formats/safetensors/read.js";
import { INDEX_FILE } from "../formats/side-file.js";
import { openLocalFileStore, openLocalStore } from "../store/local-store.js";
import { storeFileName, type ModelStore } from "../store/store.js";
import { SIDECAR_WEIGHT_FILES } from "./model-files.js";
import { checkShardContents, checkShardFiles } from "./shard-index.js";
import { storeCarriedFiles, type StoreCarriedFiles } from "./store-carried-files.js";
import { localRoot, readStoreSideFile, storeRangeChunks, storeWeightFiles, topLevelFiles, withStoreFile } from "./store-files.js";
import type { SourceModel, TensorRef } from "./tensor-ref.js";
import type { DType } from "../dtype/table.js";
import type { NameRef } from "../formats/safetensors/name-table.js";
import { SMALL_READ_MAX, SmallReads } from "./small-reads.js";
import { lazyArray, lazyConcat } from "../util/lazy-array.js";

export const SAFETENSORS_SINGLE_NAME = "model.safetensors";

/** transformers' shard names: `model-00001-of-00005.safetensors`. */
const SHARD_NAME = /^model-\d+-of-\d+\.safetensors$/;

export const SAFETENSORS_FILE_KIND = "safetensors file";
export const SAFETENSORS_FOLDER_KIND = "Hugging Face folder (safetensors)";

/** A single `.safetensors` file. It carries no other files: config and tokenizer come from a folder. */
export async function openSafetensorsFile(path: string): Promise<SourceModel> {
  return openSafetensorsStoreFile(openLocalFileStore(path), basename(path));
}

/** The `.safetensors` file `path` of `store`, alone (no carried files). */
export async function openSafetensorsStoreFile(store: ModelStore, path: string): Promise<SourceModel> {
  const header = await readStoreHeader(store, path);
  return model({ kind: SAFETENSORS_FILE_KIND, path: header.path, tensors: tensorRefs(header, store, path), files: new Map(), weightFiles: await storeWeightFiles(store, [path]), shardMetadata: new Map([[posix.basename(path), header.metadata]]), notes: [] });
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
  return openSafetensorsStoreFolder(await openLocalStore(dir, { asFound: true }));
}

/**
 * A Hugging Face model folder with safetensors weights, read through `store` (a local folder or a Hub repo): headers
 * read and checked now, tensor bytes when pulled, carried files in place (local) or copied out (remote; removed
 * by `close()`).
 */
export async function openSafetensorsStoreFolder(store: ModelStore): Promise<SourceModel> {
  const dir = store.label;
  // A local folder is scanned first, as it always was (its listing errors are the scan's); a remote one's files
  // are copied out last, once the weights are known to be readable.
  let carried: StoreCarriedFiles | undefined = localRoot(store) !== undefined ? await storeCarriedFiles(store) : undefined;
  const top = await topLevelFiles(store);
  const weightFiles = safetensorsFilesOf(top);
  const notes: string[] = [];
  const shardMetadata = new Map<string, Record<string, string> | null>();
  let tensors: readonly TensorRef[];
  let read: readonly string[];
  if (weightFiles.includes(SAFETENSORS_INDEX_NAME)) {
    const indexPath = storeFileName(store, SAFETENSORS_INDEX_NAME);
    const index = parseIndex({ text: await readStoreSideFile(store, SAFETENSORS_INDEX_NAME, INDEX_FILE), file: indexPath });
    tensors = await openShards({ store, index, present: weightFiles, isFile: (n) => top.has(n), notes, metadata: shardMetadata });
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
    const header = await readStoreHeader(store, SAFETENSORS_SINGLE_NAME);
    shardMetadata.set(SAFETENSORS_SINGLE_NAME, header.metadata);
    tensors = tensorRefs(header, store, SAFETENSORS_SINGLE_NAME);
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
  const sidecars = new Map<string, readonly TensorRef[]>();
  for (const name of SIDECAR_WEIGHT_FILES) {
    if (!top.has(name)) continue;
    sidecars.set(name, tensorRefs(await readStoreHeader(store, name), store, name));
    notes.push(`${name} carried beside the weights`);
  }
  carried ??= await storeCarriedFiles(store);
  notes.unshift(...carried.skipped.map((s) => `${s.name} not carried: ${s.reason}`));
  return model({ kind: SAFETENSORS_FOLDER_KIND, path: dir, tensors, files: carried.files, weightFiles: await storeWeightFiles(store, [...read, ...sidecars.keys()]), shardMetadata, notes, ...(sidecars.size > 0 ? { sidecars } : {}) }, carried.cleanup);
}

/** Reads and checks the header of the store's safetensors file `path`. */
async function readStoreHeader(store: ModelStore, path: string): Promise<SafetensorsFileHeader> {
  return withStoreFile(store, path, (file) => readSafetensorsHeaderFrom({ file, path: storeFileName(store, path) }));
}

/**
 * Reads every shard the index names and checks that index and shards agree exactly. Tensors come in
 * shard order (sorted shard names), then each shard's file order.
 */
async function openShards(params: {
  store: ModelStore;
  index: SafetensorsIndex;
  present: readonly string[];
  isFile: (name: string) => boolean;
  notes: string[];
  /** Filled with each shard's `__metadata__`, by shard name. */
  metadata: Map<string, Record<string, string> | null>;
}): Promise<readonly TensorRef[]> {
  const { store, index, present, notes } = params;
  const indexPath = storeFileName(store, SAFETENSORS_INDEX_NAME);
  checkShardFiles({ indexPath, indexName: SAFETENSORS_INDEX_NAME, index, present, isFile: params.isFile });
  const headers: SafetensorsFileHeader[] = [];
  for (const shard of index.shards) {
    const header = await readStoreHeader(store, shard);
    params.metadata.set(posix.basename(shard), header.metadata);
    headers.push(header);
  }
  checkShardContents({ dir: store.label, indexPath, index, shards: headers.map((h, i) => ({ shard: index.shards[i] ?? "", names: namesOf(h) })) });
  const tensors = lazyConcat(headers.map((h, i) => tensorRefs(h, store, index.shards[i] ?? "")));
  const total = headers.reduce((n, h) => n + (h.tensors.count > 0 ? h.tensors.end(h.tensors.count - 1) : 0), 0);
  notes.push(`read ${index.shards.length} shards through ${SAFETENSORS_INDEX_NAME}`);
  if (index.totalSize !== null && index.totalSize !== total) {
    notes.push(`${SAFETENSORS_INDEX_NAME} gives total_size ${index.totalSize}, but the shards hold ${total} bytes of tensors`);
  }
  return tensors;
}

/** The `.safetensors` files and the index, by name, at the top of the store. */
function safetensorsFilesOf(top: ReadonlyMap<string, unknown>): string[] {
  return [...top.keys()]
    .filter((n) => !n.startsWith(".") && !SIDECAR_WEIGHT_FILES.includes(n) && (n.endsWith(".safetensors") || n === SAFETENSORS_INDEX_NAME))
    .sort();
}

/** The `.safetensors` weight files and the index (sidecars aside), by name, at the top of the local folder `dir`. */
export async function safetensorsFilesIn(dir: string): Promise<string[]> {
  const out = new Map<string, true>();
  for (const n of await readdir(dir)) {
    const info = await stat(join(dir, n)).catch(() => null);
    if (info?.isFile() === true) out.set(n, true);
  }
  return safetensorsFilesOf(out);
}

/** Every tensor name of a shard, in offset order. */
function namesOf(header: SafetensorsFileHeader): string[] {
  return Array.from({ length: header.tensors.count }, (_, i) => header.tensors.name(i));
}

/** What the tensors of one file share: its header's table, the store's file they are read from, its block reads. */
type TensorFile = SafetensorsFileHeader & { readonly store: ModelStore; readonly file: string; readonly origin: string; readonly small: SmallReads };

/**
 * One tensor of a file as a view on its header's table: two fields, whatever the shape and name length, so that a
 * file of a million tensors costs a few dozen bytes per tensor beyond the table. Bytes are read through the store
 * (a local folder or a Hub repo read in place) when pulled; tiny tensors from blocks of their file.
 */
class FileTensor implements TensorRef {
  constructor(
    private readonly header: TensorFile,
    private readonly i: number,
  ) {}

  get name(): string {
    return this.header.tensors.name(this.i);
  }

  get nameRef(): NameRef {
    return { names: this.header.tensors.names, row: this.i };
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
    const { store, file: path, small } = this.header;
    const plain = () => storeRangeChunks({ store, path, start, length, chunkSize, ...(alloc ? { alloc } : {}) });
    if (length === 0 || length > SMALL_READ_MAX || length > chunkSize) return plain();
    return (async function* () {
      const bytes = await small.bytes(start, length, alloc);
      if (bytes) yield bytes;
      else yield* plain();
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

/**
 * The tensors of `header`, the header of the store's file `path`, each read from the store when pulled. The array
 * makes each tensor's view when it is read (a fresh one each time): a file of a million tensors keeps no object per
 * tensor, only its header's columns. Tensors compare by name, never by identity.
 */
function tensorRefs(header: SafetensorsFileHeader, store: ModelStore, path: string): readonly TensorRef[] {
  const file: TensorFile = Object.assign(header, {
    store,
    file: path,
    origin: posix.basename(path),
    small: new SmallReads({ store, path, end: header.fileSize }),
  });
  return lazyArray(header.tensors.count, (i) => new FileTensor(file, i));
}

function model(params: Omit<SourceModel, "close">, cleanup: () => Promise<void> = async () => {}): SourceModel {
  // Handles are opened per read and closed after it; what remains to release is a remote store's carried files.
  return { ...params, close: cleanup };
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}
