/**
 * Everything `export` can check before it reads a tensor byte or contacts the Hub: the source and every other path
 * exist and are what they should be, the model card is a readable regular file, the adapter's config parses, the
 * output can be written. A typo given at the start fails at once instead of after gigabytes of work.
 */
import { constants } from "node:fs";
import { access, open, readdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { isHubSpec } from "../store/hub-spec.js";
import { ADAPTER_BIN_NAME, ADAPTER_SAFETENSORS_NAME, readPeftConfig } from "../sources/peft.js";
import { checkNoOverlap, type ProtectedPath } from "../util/real-path.js";
import { looksLikeHubId } from "./provenance.js";

export interface PreflightParams {
  readonly source: string;
  /** Absent only for a dry run without an output folder: the output checks are then left out. */
  readonly out?: string;
  readonly force?: boolean;
  readonly adapter?: string;
  /** `--base` as given: a local folder, or a Hub model id when no such path exists. */
  readonly base?: string;
  readonly modelCard?: string;
}

/** What `--base` names once checked. */
export type BaseRef = { readonly dir: string } | { readonly modelId: string };

function code(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
}

async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch (e) {
    if (code(e) === "ENOENT" || code(e) === "ENOTDIR") return null;
    throw new TruecastError("UNREADABLE", `cannot read ${path} (${code(e) || String(e)}); nothing was written`, { cause: e });
  }
}

/** The user's model card: an existing, readable regular file. */
async function checkModelCard(path: string): Promise<void> {
  const info = await statOrNull(path);
  if (!info) throw new TruecastError("NOT_FOUND", `--model-card ${path}: no such file; nothing was read or written`);
  if (!info.isFile()) throw new TruecastError("USAGE", `--model-card ${path}: is not a regular file; give the Markdown file to use as README.md`);
  try {
    await (await open(path, "r")).close();
  } catch (e) {
    throw new TruecastError("UNREADABLE", `--model-card ${path}: cannot be read (${code(e) || String(e)}); check its permissions`, { cause: e });
  }
}

/** `--adapter`: a folder whose adapter_config.json parses and that holds the adapter's weights. */
async function checkAdapter(dir: string): Promise<void> {
  const info = await statOrNull(dir);
  if (!info) throw new TruecastError("NOT_FOUND", `--adapter ${dir}: no such folder`);
  if (!info.isDirectory()) throw new TruecastError("USAGE", `--adapter ${dir}: is not a folder; give the PEFT adapter folder (adapter_config.json + adapter_model.safetensors)`);
  await readPeftConfig(dir);
  const names = await readdir(dir);
  if (!names.includes(ADAPTER_SAFETENSORS_NAME) && !names.includes(ADAPTER_BIN_NAME)) {
    throw new TruecastError("NOT_FOUND", `${dir}: neither ${ADAPTER_SAFETENSORS_NAME} nor ${ADAPTER_BIN_NAME} is there`);
  }
}

/** `--base`: an existing folder, else (when the text is one) a Hub model id, resolved later through the cache or the Hub. */
async function checkBase(given: string, cwd: string): Promise<BaseRef> {
  const dir = resolve(cwd, given);
  const info = await statOrNull(dir);
  if (info?.isDirectory()) return { dir };
  if (info) throw new TruecastError("USAGE", `--base ${given}: is a file; give the base model's folder or its Hub id (org/name)`);
  if (looksLikeHubId(given) && given.includes("/") && !given.startsWith("/")) return { modelId: given };
  throw new TruecastError("NOT_FOUND", `--base ${given}: no such folder, and not a Hub model id (org/name)`);
}

/** The output: not a file, not a non-empty folder without --force, and its nearest existing parent writable. */
async function checkOutput(out: string, force: boolean): Promise<void> {
  const info = await statOrNull(out);
  if (info && !info.isDirectory()) throw new TruecastError("OUTPUT_EXISTS", `${out} is a file; choose a folder path for the output`);
  if (info && !force && (await readdir(out)).length > 0) {
    throw new TruecastError("OUTPUT_EXISTS", `${out} already exists and is not empty; choose another folder or pass --force to replace it`);
  }
  let parent = dirname(out);
  while (!(await statOrNull(parent)) && dirname(parent) !== parent) parent = dirname(parent);
  try {
    await access(parent, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new TruecastError("UNREADABLE", `cannot write in ${parent} (${code(e) || String(e)}); choose an output folder you can write to`, { cause: e });
  }
}

/**
 * Check every path and option of an export before any work (paths resolved against `cwd`). Returns what `--base`
 * names. Throws the first problem as a TruecastError.
 */
export async function preflightExport(p: PreflightParams, cwd: string): Promise<{ base: BaseRef | null }> {
  // A Hub repo read in place (`hf://…`) is checked when it is opened (its pinned revision, its listing).
  const remote = isHubSpec(p.source);
  const source = remote ? p.source : resolve(cwd, p.source);
  if (!remote && !(await statOrNull(source))) throw new TruecastError("NOT_FOUND", `${source} does not exist; check the path`);
  if (p.modelCard !== undefined) await checkModelCard(resolve(cwd, p.modelCard));
  if (p.adapter !== undefined) await checkAdapter(resolve(cwd, p.adapter));
  const base = p.base !== undefined ? await checkBase(p.base, cwd) : null;
  const protect: ProtectedPath[] = [
    ...(remote ? [] : [{ path: source, what: "source" }]),
    ...(base && "dir" in base ? [{ path: base.dir, what: "base model folder" }] : []),
    ...(p.adapter !== undefined ? [{ path: resolve(cwd, p.adapter), what: "adapter" }] : []),
    ...(p.modelCard !== undefined ? [{ path: resolve(cwd, p.modelCard), what: "model card" }] : []),
  ];
  if (p.out !== undefined) {
    await checkNoOverlap(resolve(cwd, p.out), protect);
    await checkOutput(resolve(cwd, p.out), p.force ?? false);
  }
  return { base };
}
