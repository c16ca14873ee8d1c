import { existsSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { companionFiles, singleWeightFile } from "./companion-files.js";
import { scanModelFiles } from "./model-files.js";
import { TruecastError } from "../errors.js";
import { isH2oExperiment, openH2oExperiment } from "./h2o.js";
import { openSafetensorsFile, openSafetensorsFolder } from "./safetensors.js";
import type { SourceModel } from "./tensor-ref.js";
import { openTorchFile, openTorchFolder } from "./torch.js";

export interface OpenSourceOptions {
  /** `--base <folder>`: where a source that needs its base model's files (an H2O experiment) finds them. */
  readonly baseDir?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
}

const TORCH_EXTENSIONS = new Set([".bin", ".pt", ".pth", ".ckpt"]);

async function sniff(path: string): Promise<"zip" | "safetensors" | "unknown"> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(9);
    const { bytesRead } = await fh.read(head, 0, 9, 0);
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x04034b50) return "zip";
    if (bytesRead === 9 && head[8] === 0x7b /* { */) return "safetensors";
    return "unknown";
  } finally {
    await fh.close();
  }
}

/** A single checkpoint file, by extension, else by its first bytes. */
async function openFile(path: string): Promise<SourceModel> {
  const ext = extname(path).toLowerCase();
  if (ext === ".safetensors") return openSafetensorsFile(path);
  if (TORCH_EXTENSIONS.has(ext)) return openTorchFile(path);
  const kind = await sniff(path);
  if (kind === "zip") return openTorchFile(path);
  if (kind === "safetensors") return openSafetensorsFile(path);
  throw new TruecastError(
    "UNKNOWN_SOURCE",
    `${path} is neither a safetensors file nor a PyTorch checkpoint; give a .safetensors, .bin, .pt or .pth file or a model folder`,
  );
}

/** The file's model, carrying the small files found beside it (config, tokenizer) as its own. */
function withFiles(model: SourceModel, files: ReadonlyMap<string, string>, notes: readonly string[] = []): SourceModel {
  if (files.size === 0 && notes.length === 0) return model;
  return { ...model, files: new Map([...files, ...model.files]), notes: [...model.notes, ...notes, ...(files.size > 0 ? [`carried from beside the checkpoint: ${[...files.keys()].join(", ")}`] : [])] };
}

/**
 * Open any input `export` accepts: a .safetensors file, a PyTorch .bin/.pt/.pth state dict, a Hugging Face folder
 * (safetensors or PyTorch weights, single or sharded) or an H2O LLM Studio experiment folder.
 */
export async function openSource(path: string, options: OpenSourceOptions = {}): Promise<SourceModel> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new TruecastError("NOT_FOUND", `${path} does not exist; check the path`);
    throw new TruecastError("UNREADABLE", `cannot read ${path} (${code ?? (e as Error).message})`);
  }
  if (info.isFile()) return withFiles(await openFile(path), await companionFiles(dirname(path)));
  if (!info.isDirectory()) throw new TruecastError("UNKNOWN_SOURCE", `${path} is not a file or a folder`);
  const has = (name: string) => existsSync(join(path, name));
  if (await isH2oExperiment(path)) {
    return openH2oExperiment({ dir: path, ...(options.baseDir ? { baseDir: options.baseDir } : {}), ...(options.env ? { env: options.env } : {}), ...(options.fetch ? { fetch: options.fetch } : {}) });
  }
  if (has("model.safetensors") || has("model.safetensors.index.json")) return openSafetensorsFolder(path);
  if (has("pytorch_model.bin") || has("pytorch_model.bin.index.json")) return openTorchFolder(path);
  if (has("adapter_config.json")) {
    throw new TruecastError("UNKNOWN_SOURCE", `${path} is a PEFT adapter, not a model; export the base model and pass this folder as --adapter ${path}`);
  }
  const single = await singleWeightFile(path);
  if (single !== null) {
    const scan = await scanModelFiles(path);
    const model = await openFile(single);
    return withFiles(model, scan.files, scan.skipped.map((s) => `${s.name} not carried: ${s.reason}`));
  }
  throw new TruecastError(
    "UNKNOWN_SOURCE",
    `${path} holds no model: expected model.safetensors, model.safetensors.index.json, pytorch_model.bin(.index.json), a single .pt/.pth/.bin/.safetensors checkpoint, or an H2O LLM Studio experiment (cfg.yaml + checkpoint.pth)`,
  );
}
