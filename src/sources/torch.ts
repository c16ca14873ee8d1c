/**
 * Opens PyTorch checkpoints as a SourceModel: a bare `.bin` / `.pt` / `.pth` state dict (also wrapped as
 * `{"model": ...}` or `{"state_dict": ...}`, with `module.` / `_orig_mod.` prefixes), or a Hugging Face folder
 * with `pytorch_model.bin` or shards listed by `pytorch_model.bin.index.json`. No pickle code ever runs:
 * the restricted unpickler builds descriptors, and tensor bytes are read in place only when pulled. Every file is
 * read through a ModelStore (a local folder, or a Hub repo read in place), each tensor's file opened for its read.
 */
import { basename, posix } from "node:path";
import { CONFIG_FILE, INDEX_FILE, parseSideJson } from "../formats/side-file.js";
import { isDType, type DType } from "../dtype/table.js";
import { TruecastError } from "../errors.js";
import { parseIndex } from "../formats/safetensors/index-file.js";
import { readTorchCheckpoint } from "../formats/torch/checkpoint.js";
import { coversStorage, isContiguous, numelOf, type StridedView } from "../formats/torch/layout.js";
import { viewChunks } from "../formats/torch/read-view.js";
import type { TorchTensor } from "../formats/torch/rebuild.js";
import { extractStateDict, type StateDictEntry } from "../formats/torch/state-dict.js";
import { openLocalFileStore, openLocalStore } from "../store/local-store.js";
import { storeFileName, type ModelStore } from "../store/store.js";
import { checkShardContents, checkShardFiles } from "./shard-index.js";
import { storeCarriedFiles, type StoreCarriedFiles } from "./store-carried-files.js";
import { localRoot, readStoreSideFile, storeRangeChunks, storeWeightFiles, topLevelFiles, withStoreFile } from "./store-files.js";
import type { ChunkOptions, SourceModel, TensorRef } from "./tensor-ref.js";

export const TORCH_SINGLE_NAME = "pytorch_model.bin";
export const TORCH_INDEX_NAME = "pytorch_model.bin.index.json";
export const TORCH_FILE_KIND = "PyTorch checkpoint";
export const TORCH_FOLDER_KIND = "Hugging Face folder (PyTorch)";

/** transformers' shard names: `pytorch_model-00001-of-00003.bin`. */
const SHARD_NAME = /^pytorch_model-\d+-of-\d+\.bin$/;

/** Names of output embeddings that transformers leaves out when `tie_word_embeddings` ties them to the input's. */
const TIED_OUTPUT_NAMES = ["lm_head.weight", "embed_out.weight"];

export interface TorchOpenOptions {
  /** The model ties its output embeddings to its input embeddings: leave out a duplicate sharing their storage. */
  readonly tieWordEmbeddings?: boolean;
}

interface FileTensors {
  readonly store: ModelStore;
  /** The checkpoint's path in its store. */
  readonly path: string;
  readonly entries: readonly StateDictEntry[];
}

/** Read one checkpoint's structure (the file is closed again before any tensor is read). */
async function readFileTensors(store: ModelStore, path: string, notes: string[], stripPrefixes: boolean): Promise<FileTensors> {
  const fileName = posix.basename(path);
  const checkpoint = await withStoreFile(store, path, (file) => readTorchCheckpoint({ file, fileName }));
  if (checkpoint.format === "legacy") notes.push(`${fileName}: read in the legacy PyTorch format (torch < 1.6)`);
  const sd = extractStateDict({ value: checkpoint.value, fileName, stripPrefixes });
  if (sd.wrapper !== null) {
    const beside = sd.besideWrapper.length > 0 ? `; ${sd.besideWrapper.length} other entries skipped (${sd.besideWrapper.slice(0, 5).join(", ")})` : "";
    notes.push(`${fileName}: state dict read from key "${sd.wrapper}"${beside}`);
  }
  for (const [prefix, n] of sd.prefixesRemoved) notes.push(`${fileName}: prefix "${prefix}" removed from ${n} keys`);
  if (sd.skipped.length > 0) {
    notes.push(`${fileName}: ${sd.skipped.length} non-tensor values skipped (${sd.skipped.slice(0, 5).join(", ")})`);
  }
  return { store, path, entries: sd.entries };
}

function sameView(a: StateDictEntry, b: StateDictEntry): boolean {
  const x = a.tensor;
  const y = b.tensor;
  return x.dtype === y.dtype && x.storageOffset === y.storageOffset && x.shape.join() === y.shape.join() && x.stride.join() === y.stride.join();
}

/** TensorRefs of one file: views materialized, tied duplicates left out when the model ties them. */
function tensorRefs(file: FileTensors, notes: string[], tie: boolean): TensorRef[] {
  const fileName = posix.basename(file.path);
  // What each ref reads from, shared (not `file`, whose entries are garbage once the refs are made).
  const where = { store: file.store, path: file.path };
  const byStorage = new Map<string, StateDictEntry[]>();
  for (const e of file.entries) {
    const group = byStorage.get(e.tensor.storage.key) ?? [];
    group.push(e);
    byStorage.set(e.tensor.storage.key, group);
  }
  const dropped = new Set<string>();
  let shared = 0;
  for (const group of byStorage.values()) {
    if (group.length < 2) continue;
    for (const e of group) {
      const twin = group.find((o) => o !== e && !dropped.has(o.name) && sameView(o, e));
      if (tie && twin !== undefined && TIED_OUTPUT_NAMES.some((n) => e.name === n || e.name.endsWith(`.${n}`))) {
        dropped.add(e.name);
        notes.push(`${e.name} left out: it shares its storage with ${twin.name} and the model ties word embeddings (tie_word_embeddings)`);
      }
    }
    const remaining = group.filter((e) => !dropped.has(e.name)).length;
    if (remaining > 1) shared += remaining;
  }
  if (shared > 0) notes.push(`${fileName}: ${shared} tensors share storage with another tensor; each is written with its own bytes`);
  let views = 0;
  const refs: TensorRef[] = [];
  for (const e of file.entries) {
    if (dropped.has(e.name)) continue;
    const t = e.tensor;
    if (!isDType(t.dtype)) {
      throw new TruecastError(
        "UNSUPPORTED_DTYPE",
        `${fileName}: tensor "${e.storedName}" is ${t.dtype === "C128" ? "complex128" : t.dtype}, which safetensors cannot store; convert it in torch first`,
      );
    }
    if (!coversStorage(t)) views++;
    refs.push(new TorchTensorRef(e.name, t.dtype, t, where, fileName));
  }
  if (views > 0) notes.push(`${fileName}: ${views} tensors materialized from views (a storage offset, part of a storage, or strides)`);
  return refs;
}

/**
 * One tensor of a checkpoint file. A class, so that a state dict of 100,000 tensors shares one `chunks` instead of
 * holding a closure and its context per tensor (~110 bytes each), and its size comes from the descriptor's interned
 * size tuple rather than a copy.
 */
class TorchTensorRef implements TensorRef {
  readonly shape: readonly number[];
  readonly byteLength: number;
  constructor(
    readonly name: string,
    readonly dtype: DType,
    private readonly tensor: TorchTensor,
    private readonly file: { readonly store: ModelStore; readonly path: string },
    readonly origin: string,
  ) {
    this.shape = tensor.shape;
    this.byteLength = Number(numelOf(tensor.shape)) * tensor.itemSize;
  }

  chunks(chunkSize: number, alloc?: (n: number) => Uint8Array, opts?: ChunkOptions): AsyncIterable<Uint8Array> {
    const { store, path } = this.file;
    const t = this.tensor;
    if (!isContiguous(t)) return storeViewChunks(store, path, t, chunkSize, opts?.scratchDir, alloc);
    const start = t.storage.byteOffset + t.storageOffset * t.itemSize;
    return storeRangeChunks({ store, path, start, length: this.byteLength, chunkSize, ...(alloc ? { alloc } : {}) });
  }
}

/** A strided view's logical bytes, read from the store's file opened for this read and closed after it. */
async function* storeViewChunks(
  store: ModelStore,
  path: string,
  tensor: StridedView & { readonly storage: { readonly byteOffset: number } },
  chunkSize: number,
  scratchDir: string | undefined,
  alloc: ((n: number) => Uint8Array) | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  const file = await store.open(path);
  try {
    yield* viewChunks({ path: storeFileName(store, path), tensor, chunkSize, file, ...(scratchDir === undefined ? {} : { scratchDir }), ...(alloc && { alloc }) });
  } finally {
    await file.close();
  }
}

function model(params: Omit<SourceModel, "close">, cleanup: () => Promise<void> = async () => {}): SourceModel {
  // Handles are opened per read and closed after it; what remains to release is a remote store's carried files.
  return { ...params, close: cleanup };
}

/** A bare PyTorch state dict file (`.bin`, `.pt`, `.pth`). */
export async function openTorchFile(path: string, opts: TorchOpenOptions = {}): Promise<SourceModel> {
  return openTorchStoreFile(openLocalFileStore(path), basename(path), opts);
}

/** The PyTorch state dict file `path` of `store`, alone (no carried files). */
export async function openTorchStoreFile(store: ModelStore, path: string, opts: TorchOpenOptions = {}): Promise<SourceModel> {
  const notes: string[] = [];
  const file = await readFileTensors(store, path, notes, true);
  const tensors = tensorRefs(file, notes, opts.tieWordEmbeddings === true);
  return model({ kind: TORCH_FILE_KIND, path: storeFileName(store, path), tensors, files: new Map(), weightFiles: await storeWeightFiles(store, [path]), notes });
}

/** config.json's `tie_word_embeddings`; transformers' default (true) when config.json omits it. */
async function readTieWordEmbeddings(store: ModelStore, present: boolean, notes: string[]): Promise<boolean> {
  const path = storeFileName(store, "config.json");
  let text: string;
  // A local folder's config.json is read whatever it is, as it always was (a folder by that name is refused).
  if (!present && localRoot(store) === undefined) return false;
  try {
    text = await readStoreSideFile(store, "config.json", CONFIG_FILE);
  } catch (e) {
    if (e instanceof TruecastError) throw e;
    return false;
  }
  const config = parseSideJson(text, path, CONFIG_FILE);
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new TruecastError("CONFIG_INVALID", `${path}: not a JSON object; fix or restore config.json`);
  }
  const v = (config as Record<string, unknown>)["tie_word_embeddings"];
  if (v === undefined) {
    notes.push("config.json has no tie_word_embeddings: transformers' default (true) applies");
    return true;
  }
  if (typeof v !== "boolean") throw new TruecastError("CONFIG_INVALID", `${path}: "tie_word_embeddings" is not true or false`);
  return v;
}

/** A Hugging Face folder with `pytorch_model.bin`, or shards listed by `pytorch_model.bin.index.json`. */
export async function openTorchFolder(dir: string): Promise<SourceModel> {
  return openTorchStoreFolder(await openLocalStore(dir, { asFound: true }));
}

/**
 * A Hugging Face folder with PyTorch weights read through `store` (a local folder or a Hub repo): pickles read now
 * (never run), tensor bytes when pulled, carried files in place (local) or copied out (remote; removed by `close()`).
 */
export async function openTorchStoreFolder(store: ModelStore): Promise<SourceModel> {
  const dir = store.label;
  // As for safetensors: a local folder is scanned first, a remote one's carried files are copied out last.
  let carried: StoreCarriedFiles | undefined = localRoot(store) !== undefined ? await storeCarriedFiles(store) : undefined;
  const notes: string[] = [];
  const top = await topLevelFiles(store);
  const tie = await readTieWordEmbeddings(store, top.has("config.json"), notes);
  const present = [...top.keys()].filter((n) => n === TORCH_SINGLE_NAME || n === TORCH_INDEX_NAME || SHARD_NAME.test(n)).sort();
  let perFile: FileTensors[];
  if (present.includes(TORCH_INDEX_NAME)) {
    perFile = await readShards({ store, present, isFile: (n) => top.has(n), notes });
  } else if (present.includes(TORCH_SINGLE_NAME)) {
    const others = present.filter((n) => n !== TORCH_SINGLE_NAME);
    if (others.length > 0) {
      throw new TruecastError(
        "INDEX_MISMATCH",
        `${dir}: holds ${TORCH_SINGLE_NAME} and also ${others.join(", ")}; it is unclear which are the model's weights: move the extra files out`,
      );
    }
    perFile = [await readFileTensors(store, TORCH_SINGLE_NAME, notes, false)];
  } else if (present.length > 0) {
    throw new TruecastError(
      "NOT_FOUND",
      `${dir}: holds ${present.join(", ")} but no ${TORCH_INDEX_NAME} saying which tensors are where; restore the index from where the shards came from`,
    );
  } else {
    throw new TruecastError("UNKNOWN_SOURCE", `${dir}: has neither ${TORCH_SINGLE_NAME} nor ${TORCH_INDEX_NAME}; it is not a PyTorch model folder`);
  }
  const tensors = perFile.flatMap((f) => tensorRefs(f, notes, tie));
  carried ??= await storeCarriedFiles(store);
  notes.unshift(...carried.skipped.map((s) => `${s.name} not carried: ${s.reason}`));
  return model({ kind: TORCH_FOLDER_KIND, path: dir, tensors, files: carried.files, weightFiles: await storeWeightFiles(store, perFile.map((f) => f.path)), notes }, carried.cleanup);
}

/** Read every shard the index names, checking that index and shards agree exactly. */
async function readShards(params: { store: ModelStore; present: readonly string[]; isFile: (name: string) => boolean; notes: string[] }): Promise<FileTensors[]> {
  const { store, present, notes } = params;
  const indexPath = storeFileName(store, TORCH_INDEX_NAME);
  const index = parseIndex({ text: await readStoreSideFile(store, TORCH_INDEX_NAME, INDEX_FILE), file: indexPath });
  checkShardFiles({ indexPath, indexName: TORCH_INDEX_NAME, index, present, isFile: params.isFile });
  const out: FileTensors[] = [];
  for (const shard of index.shards) out.push(await readFileTensors(store, shard, notes, false));
  checkShardContents({ dir: store.label, indexPath, index, shards: out.map((f, i) => ({ shard: index.shards[i] ?? "", names: f.entries.map((e) => e.name) })) });
  notes.push(`read ${index.shards.length} shards through ${TORCH_INDEX_NAME}`);
  return out;
}
