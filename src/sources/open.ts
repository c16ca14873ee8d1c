import { stat } from "node:fs/promises";
import { basename, dirname, extname, posix } from "node:path";
import { companionFiles } from "./companion-files.js";
import { TruecastError } from "../errors.js";
import { isH2oExperiment, openH2oExperiment } from "./h2o.js";
import { openSafetensorsStoreFile, openSafetensorsStoreFolder } from "./safetensors.js";
import { storeCarriedFiles } from "./store-carried-files.js";
import { localRoot, topLevelFiles, withStoreFile } from "./store-files.js";
import type { SourceModel } from "./tensor-ref.js";
import { openTorchStoreFile, openTorchStoreFolder } from "./torch.js";
import { openLocalFileStore, openLocalStore } from "../store/local-store.js";
import { storeFileName, type ModelStore } from "../store/store.js";
import { isHubSpec } from "../store/hub-spec.js";
import { openStore } from "../store/open-store.js";

export interface OpenSourceOptions {
  /** `--base <folder>`: where a source that needs its base model's files (an H2O experiment) finds them. */
  readonly baseDir?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
  /** Stops a Hub source's reads in progress (Ctrl-C). */
  readonly signal?: AbortSignal;
  /**
   * Read the source from this store (a Hub repo read in place, or any other {@link ModelStore}) instead of the
   * local file system; the path given to {@link openSource} then only names it. The caller closes the store,
   * after the source.
   */
  readonly store?: ModelStore;
}

export interface OpenSourceStoreOptions extends OpenSourceOptions {
  /**
   * The store was opened for this source alone (`hf://…` given as the source): close it with the source, or at
   * once when opening fails. Default false: the caller closes it, after the source.
   */
  readonly closeStore?: boolean;
}

const TORCH_EXTENSIONS = new Set([".bin", ".pt", ".pth", ".ckpt"]);

/** Extensions of a weight file a folder may hold as its only model (`ckpt.pt` + config.json). */
const SINGLE_WEIGHT_EXTENSIONS = new Set([".pt", ".pth", ".bin", ".ckpt", ".safetensors"]);

async function sniff(store: ModelStore, path: string): Promise<"zip" | "safetensors" | "unknown"> {
  const head = await withStoreFile(store, path, (file) => file.read(0, 9));
  if (head.length >= 4 && new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0, true) === 0x04034b50) return "zip";
  if (head.length === 9 && head[8] === 0x7b /* { */) return "safetensors";
  return "unknown";
}

/** The store's checkpoint file `path`, by extension, else by its first bytes. */
async function openFile(store: ModelStore, path: string): Promise<SourceModel> {
  const ext = extname(path).toLowerCase();
  if (ext === ".safetensors") return openSafetensorsStoreFile(store, path);
  if (TORCH_EXTENSIONS.has(ext)) return openTorchStoreFile(store, path);
  const kind = await sniff(store, path);
  if (kind === "zip") return openTorchStoreFile(store, path);
  if (kind === "safetensors") return openSafetensorsStoreFile(store, path);
  throw new TruecastError(
    "UNKNOWN_SOURCE",
    `${storeFileName(store, path)} is neither a safetensors file nor a PyTorch checkpoint; give a .safetensors, .bin, .pt or .pth file or a model folder`,
  );
}

/** The file's model, carrying the small files found beside it (config, tokenizer) as its own. */
function withFiles(model: SourceModel, files: ReadonlyMap<string, string>, notes: readonly string[] = []): SourceModel {
  if (files.size === 0 && notes.length === 0) return model;
  return { ...model, files: new Map([...files, ...model.files]), notes: [...model.notes, ...notes, ...(files.size > 0 ? [`carried from beside the checkpoint: ${[...files.keys()].join(", ")}`] : [])] };
}

/**
 * Open any input `export` accepts: a .safetensors file, a PyTorch .bin/.pt/.pth state dict, a Hugging Face folder
 * (safetensors or PyTorch weights, single or sharded) or an H2O LLM Studio experiment folder; with
 * `options.store`, the folder that store holds (see {@link openSourceStore}); `hf://namespace/name[@revision]`, a Hub
 * repo read in place with range requests (tensor bytes only when pulled, never written to disk).
 */
export async function openSource(path: string, options: OpenSourceOptions = {}): Promise<SourceModel> {
  if (options.store !== undefined) return openSourceStore(options.store, options);
  if (isHubSpec(path)) {
    // A Hub repo read in place: the store is the source's own, closed with it.
    const store = await openStore(path, { ...(options.env && { env: options.env }), ...(options.fetch && { fetch: options.fetch }), ...(options.signal && { signal: options.signal }) });
    return openSourceStore(store, { ...options, closeStore: true });
  }
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new TruecastError("NOT_FOUND", `${path} does not exist; check the path`);
    throw new TruecastError("UNREADABLE", `cannot read ${path} (${code ?? (e as Error).message})`);
  }
  if (info.isFile()) return withFiles(await openFile(openLocalFileStore(path), basename(path)), await companionFiles(dirname(path)));
  if (!info.isDirectory()) throw new TruecastError("UNKNOWN_SOURCE", `${path} is not a file or a folder`);
  return openSourceStore(await openLocalStore(path, { asFound: true }), options);
}

/**
 * Open the model folder a store holds (a local folder, or a Hub repo read in place): a Hugging Face folder with
 * safetensors or PyTorch weights, a folder whose only weight file is one checkpoint, or (local only) an H2O LLM
 * Studio experiment. Tensors are read from the store when pulled; a remote store's carried files are copied into
 * a private temporary folder that the source's `close()` removes. The store stays open (the caller's) unless
 * `options.closeStore` hands it to the source.
 */
export async function openSourceStore(store: ModelStore, options: OpenSourceStoreOptions = {}): Promise<SourceModel> {
  // A Hub store is pinned to a commit: the model says which (an interrupted export resumes only at the same one).
  const pinned = "commit" in store && typeof store.commit === "string" ? { commit: store.commit } : {};
  if (options.closeStore !== true) return { ...(await openStoreModel(store, options)), ...pinned };
  let model: SourceModel;
  try {
    model = await openStoreModel(store, options);
  } catch (e) {
    await store.close();
    throw e;
  }
  return { ...model, ...pinned, close: async () => { try { await model.close(); } finally { await store.close(); } } };
}

async function openStoreModel(store: ModelStore, options: OpenSourceOptions): Promise<SourceModel> {
  const path = store.label;
  const top = await topLevelFiles(store);
  const has = (name: string) => top.has(name);
  if (has("cfg.yaml") && has("checkpoint.pth")) {
    const dir = localRoot(store);
    if (dir === undefined) {
      throw new TruecastError("UNKNOWN_SOURCE", `${path} is an H2O LLM Studio experiment, which truecast reads from a local folder only; download it and export that folder`);
    }
    if (await isH2oExperiment(dir)) {
      return openH2oExperiment({ dir, ...(options.baseDir ? { baseDir: options.baseDir } : {}), ...(options.env ? { env: options.env } : {}), ...(options.fetch ? { fetch: options.fetch } : {}) });
    }
  }
  if (has("model.safetensors") || has("model.safetensors.index.json")) return openSafetensorsStoreFolder(store);
  if (has("pytorch_model.bin") || has("pytorch_model.bin.index.json")) return openTorchStoreFolder(store);
  if (has("adapter_config.json")) {
    throw new TruecastError("UNKNOWN_SOURCE", `${path} is a PEFT adapter, not a model; export the base model and pass this folder as --adapter ${path}`);
  }
  const single = singleWeightFile(store, top);
  if (single !== null) {
    const model = await openFile(store, single);
    try {
      const scan = await storeCarriedFiles(store);
      const opened = withFiles(model, scan.files, scan.skipped.map((s) => `${s.name} not carried: ${s.reason}`));
      return { ...opened, close: async () => { await model.close(); await scan.cleanup(); } };
    } catch (e) {
      await model.close();
      throw e;
    }
  }
  throw new TruecastError(
    "UNKNOWN_SOURCE",
    `${path} holds no model: expected model.safetensors, model.safetensors.index.json, pytorch_model.bin(.index.json), a single .pt/.pth/.bin/.safetensors checkpoint, or an H2O LLM Studio experiment (cfg.yaml + checkpoint.pth)`,
  );
}

/**
 * The one weight file (`*.pt`, `*.pth`, `*.bin`, `*.ckpt`, `*.safetensors`) at the top of the store, or null when
 * there is none. Several are refused by name: which one is the model is the user's call.
 */
function singleWeightFile(store: ModelStore, top: ReadonlyMap<string, unknown>): string | null {
  const files = [...top.keys()].filter((n) => !n.startsWith(".") && SINGLE_WEIGHT_EXTENSIONS.has(posix.extname(n).toLowerCase())).sort();
  if (files.length === 0) return null;
  if (files.length > 1) {
    throw new TruecastError(
      "UNKNOWN_SOURCE",
      `${store.label} holds several weight files (${files.join(", ")}) and no model index; pass the checkpoint file itself, e.g. truecast export ${storeFileName(store, files[0] ?? "")} <out>`,
    );
  }
  return files[0] ?? null;
}
