/**
 * What `audit` knows of a model before reading a single weight value: the store's listing, config.json, the model
 * card, the shard indexes, every safetensors header (8 bytes, then the header) and every PyTorch checkpoint's
 * pickle (read in collecting mode, never executed). A file that cannot be read is kept with its problem, so that
 * the audit reports it as a finding instead of stopping.
 */
import { TruecastError } from "../errors.js";
import { parseHeader, readHeaderSize } from "../formats/safetensors/header.js";
import { parseIndex, type SafetensorsIndex } from "../formats/safetensors/index-file.js";
import { HEADER_LENGTH_PREFIX } from "../formats/safetensors/spec.js";
import { ADAPTER_CONFIG_FILE, CONFIG_FILE, INDEX_FILE, parseSideJson } from "../formats/side-file.js";
import type { CollectedPickle } from "../formats/pickle/collect.js";
import { scanTorchCheckpoint } from "../formats/torch/checkpoint.js";
import { isContiguous, numelOf } from "../formats/torch/layout.js";
import type { TorchTensor } from "../formats/torch/rebuild.js";
import { extractStateDict } from "../formats/torch/state-dict.js";
import { readWholeFile, type ModelStore, type StoreEntry } from "../store/store.js";

export type WeightFormat = "safetensors" | "torch";

/** One tensor as a weight file stores it. */
export interface AuditTensor {
  readonly name: string;
  /** A safetensors dtype name (`BF16`), or `C128` for a torch complex128 tensor. */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** numel × element size. */
  readonly byteLength: number;
  readonly file: string;
  readonly format: WeightFormat;
  /** Where its bytes start in the file, when they are contiguous there. */
  readonly start: number;
  /** A torch view that is not contiguous (read through its strides). */
  readonly view?: TorchTensor;
}

export interface WeightFile {
  readonly path: string;
  readonly format: WeightFormat;
  readonly size: number;
  readonly tensors: readonly AuditTensor[];
  /** A safetensors file's `__metadata__`. */
  readonly metadata: Readonly<Record<string, string>> | null;
  /** A torch checkpoint's pickle, read in collecting mode. */
  readonly pickle?: Pick<CollectedPickle, "globals" | "problem">;
  /** Why the file could not be read (its tensors are then unknown). */
  readonly problem?: TruecastError;
}

export interface IndexFile {
  readonly path: string;
  readonly format: WeightFormat;
  readonly index: SafetensorsIndex | null;
  readonly problem?: TruecastError;
}

export interface AuditModel {
  readonly store: ModelStore;
  readonly entries: readonly StoreEntry[];
  readonly files: readonly WeightFile[];
  readonly indexes: readonly IndexFile[];
  /** config.json as parsed, null without one (or when unreadable: see configProblem). */
  readonly config: Readonly<Record<string, unknown>> | null;
  readonly configProblem?: TruecastError;
  readonly adapterConfig: Readonly<Record<string, unknown>> | null;
  /** README.md's text, when there is one. */
  readonly card: string | null;
}

/** Largest model card read: real cards are tens of KB. */
export const MAX_CARD_BYTES = 1024 * 1024;
const TORCH_WEIGHT = /\.(bin|pt|pth|ckpt)$/i;
/** Pickles trainers save beside the weights that are not weights. */
const NOT_WEIGHTS = /^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state.*\.pth|trainer_state.*|.*optim.*\.(bin|pt))$/i;

/** Is this listed file (top level only) a weight file audit reads, and in which format? */
export function weightFormatOf(path: string): WeightFormat | null {
  if (path.includes("/")) return null;
  if (path.toLowerCase().endsWith(".safetensors")) return "safetensors";
  if (TORCH_WEIGHT.test(path) && !NOT_WEIGHTS.test(path)) return "torch";
  return null;
}

function asTruecastError(e: unknown, path: string): TruecastError {
  if (e instanceof TruecastError) return e;
  return new TruecastError("UNREADABLE", `${path}: cannot be read (${e instanceof Error ? e.message : String(e)})`);
}

async function readSafetensors(store: ModelStore, entry: StoreEntry): Promise<WeightFile> {
  const file = await store.open(entry.path);
  try {
    const prefix = await file.read(0, Math.min(HEADER_LENGTH_PREFIX, file.size));
    const n = readHeaderSize({ prefix, fileSize: file.size, file: entry.path });
    const headerBytes = await file.read(HEADER_LENGTH_PREFIX, n);
    const header = parseHeader({ prefix, headerBytes, fileSize: file.size, file: entry.path });
    const tensors = header.entries.map((e) => ({
      name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin, file: entry.path, format: "safetensors" as const,
      start: header.dataStart + e.begin,
    }));
    return { path: entry.path, format: "safetensors", size: file.size, tensors, metadata: header.metadata };
  } finally {
    await file.close();
  }
}

async function readTorch(store: ModelStore, entry: StoreEntry): Promise<WeightFile> {
  const file = await store.open(entry.path);
  try {
    const scan = await scanTorchCheckpoint({ file, fileName: entry.path });
    const { globals, problem, value } = scan.collected;
    const tensors: AuditTensor[] = [];
    if (value instanceof Map) {
      // The tensors the pickle describes, whether or not it also names globals outside the allowlist.
      let entries: ReturnType<typeof extractStateDict>["entries"] = [];
      try {
        entries = extractStateDict({ value, fileName: entry.path, stripPrefixes: true }).entries;
      } catch (e) {
        if (!(e instanceof TruecastError)) throw e;
      }
      for (const e of entries) {
        const t = e.tensor;
        tensors.push({
          name: e.name, dtype: t.dtype, shape: [...t.shape], byteLength: Number(numelOf(t.shape)) * t.itemSize,
          file: entry.path, format: "torch", start: t.storage.byteOffset + t.storageOffset * t.itemSize,
          ...(isContiguous(t) ? {} : { view: t }),
        });
      }
    }
    return { path: entry.path, format: "torch", size: file.size, tensors, metadata: null, pickle: { globals, problem } };
  } finally {
    await file.close();
  }
}

async function readJson(store: ModelStore, path: string, kind: typeof CONFIG_FILE): Promise<Record<string, unknown>> {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(await readWholeFile(store, path, kind.maxBytes));
  const parsed = parseSideJson(text, `${store.label}/${path}`, kind);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TruecastError(kind.code, `${store.label}/${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Reads everything `audit` checks without values. Only the store's own failures (listing, network) throw. */
export async function readAuditModel(store: ModelStore): Promise<AuditModel> {
  const entries = await store.list();
  const has = new Set(entries.map((e) => e.path));
  const files: WeightFile[] = [];
  for (const entry of entries) {
    const format = weightFormatOf(entry.path);
    if (format === null) continue;
    try {
      files.push(format === "safetensors" ? await readSafetensors(store, entry) : await readTorch(store, entry));
    } catch (e) {
      if (!(e instanceof TruecastError) || e.code.startsWith("HUB_")) throw e;
      files.push({ path: entry.path, format, size: entry.size, tensors: [], metadata: null, problem: asTruecastError(e, entry.path) });
    }
  }
  const indexes: IndexFile[] = [];
  for (const [path, format] of [["model.safetensors.index.json", "safetensors"], ["pytorch_model.bin.index.json", "torch"]] as const) {
    if (!has.has(path)) continue;
    try {
      const text = new TextDecoder().decode(await readWholeFile(store, path, INDEX_FILE.maxBytes));
      indexes.push({ path, format, index: parseIndex({ text, file: path }) });
    } catch (e) {
      if (!(e instanceof TruecastError) || e.code.startsWith("HUB_")) throw e;
      indexes.push({ path, format, index: null, problem: e });
    }
  }
  let config: Record<string, unknown> | null = null;
  let configProblem: TruecastError | undefined;
  if (has.has("config.json")) {
    try {
      config = await readJson(store, "config.json", CONFIG_FILE);
    } catch (e) {
      if (!(e instanceof TruecastError) || e.code.startsWith("HUB_")) throw e;
      configProblem = e;
    }
  }
  let adapterConfig: Record<string, unknown> | null = null;
  if (has.has("adapter_config.json")) adapterConfig = await readJson(store, "adapter_config.json", ADAPTER_CONFIG_FILE).catch(() => null);
  const card = has.has("README.md")
    ? new TextDecoder().decode(await readWholeFile(store, "README.md", MAX_CARD_BYTES).catch(() => new Uint8Array()))
    : null;
  return { store, entries, files, indexes, config, ...(configProblem ? { configProblem } : {}), adapterConfig, card };
}

