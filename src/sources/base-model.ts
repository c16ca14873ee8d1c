import { INDEX_FILE, parseSideJson, readSideFile } from "../formats/side-file.js";
import { isAbsolute, join, resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { checkModelId, checkRepoPath, findCachedSnapshot, isDir, isFile, repoFolder } from "./base-model-cache.js";
import { httpTimeouts, type HttpTimeouts } from "../util/http-guard.js";
import { hfEnvironment, hfToken } from "./base-model-env.js";
import { describeHubFailure, downloadToCache } from "./base-model-hub.js";

/**
 * Finds a base model's files: in the folder given with `--base`, else in the shared Hugging Face cache, else on the
 * Hub (downloaded into that cache through `@huggingface/hub`), unless the environment says offline.
 * If none has them: one BASE_NOT_FOUND line that says where it looked and to pass `--base <folder>`.
 */

export type BaseModelOrigin = "folder" | "cache" | "hub";

export interface ResolveBaseParams {
  /** The Hub model id (`org/name`), e.g. H2O's `llm_backbone`. An absolute path is taken as a folder. */
  modelId: string;
  /** `--base <folder>`: when given, the only place looked at. */
  baseDir?: string;
  /** Branch, tag or commit. @default "main" */
  revision?: string;
  /** Where HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE are read. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Used for every Hub request (tests pass a counting one). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Overrides the cache folder the environment names. */
  cacheDir?: string;
}

export interface ResolveBaseFilesParams extends ResolveBaseParams {
  /** File names wanted, e.g. config.json, generation_config.json, tokenizer files. Absent ones are simply left out. */
  want: string[];
  /** Files without which a place does not count as having the model. @default config.json when wanted, else none */
  required?: string[];
}

export interface ResolvedBase {
  /** The folder the files are in (the `--base` folder or the cache snapshot). */
  dir: string;
  /** name → path, for the wanted files found. */
  files: Map<string, string>;
  from: BaseModelOrigin;
  /** The snapshot's commit, when it came from the cache or the Hub. */
  commit?: string;
  /** What happened on the way, for the report (files downloaded, downloads that failed). */
  notes: string[];
}

/** One place that may hold the model's files, asked for names in stages (index first, then shards). */
interface Place {
  readonly from: BaseModelOrigin;
  readonly dir: string;
  readonly commit?: string;
  readonly notes: string[];
  /** The subset of `names` this place has (downloading them where it can). */
  get(names: readonly string[]): Promise<Map<string, string>>;
}

function folderPlace(dir: string): Place {
  return {
    from: "folder",
    dir,
    notes: [],
    async get(names) {
      const found = new Map<string, string>();
      for (const n of names) {
        checkRepoPath(n);
        if (await isFile(join(dir, n))) found.set(n, join(dir, n));
      }
      return found;
    },
  };
}

interface HubAccess {
  modelId: string;
  cacheDir: string;
  endpoint: string;
  token?: string;
  fetch?: typeof fetch;
  timeouts?: HttpTimeouts;
}

/** The cache snapshot; online, files it never downloaded are fetched at the snapshot's commit (best effort). */
function cachePlace(params: { snapshotDir: string; commit: string; hub: HubAccess | null }): Place {
  const notes: string[] = [];
  return {
    from: "cache",
    dir: params.snapshotDir,
    commit: params.commit,
    notes,
    async get(names) {
      const found = new Map<string, string>();
      const missing: string[] = [];
      for (const n of names) {
        checkRepoPath(n);
        if (await isFile(join(params.snapshotDir, n))) found.set(n, join(params.snapshotDir, n));
        else if (!(await isFile(join(params.snapshotDir, "..", "..", ".no_exist", params.commit, n)))) missing.push(n);
      }
      if (missing.length > 0 && params.hub !== null) {
        try {
          const r = await downloadToCache({ ...params.hub, revision: params.commit, files: missing });
          for (const [n, p] of r.got) found.set(n, p);
          if (r.got.size > 0) notes.push(`downloaded ${[...r.got.keys()].join(", ")} into the Hugging Face cache`);
        } catch (e) {
          notes.push(`could not download ${missing.join(", ")}: ${describeHubFailure(e, params.hub.endpoint, params.hub.modelId)}`);
        }
      }
      return found;
    },
  };
}

/** The Hub: the first answer pins the commit, every later stage downloads at that commit. */
function hubPlace(hub: HubAccess, revision: string): Place {
  const notes: string[] = [];
  const place: { -readonly [K in keyof Place]: Place[K] } = {
    from: "hub",
    dir: "",
    notes,
    async get(names) {
      if (names.length === 0) return new Map();
      const r = await downloadToCache({ ...hub, revision: place.commit ?? revision, files: names });
      place.commit = r.commit;
      place.dir = join(repoFolder(hub.cacheDir, hub.modelId), "snapshots", r.commit);
      if (r.got.size > 0) notes.push(`downloaded ${[...r.got.keys()].join(", ")} from ${hub.endpoint} into the Hugging Face cache`);
      return r.got;
    },
  };
  return place;
}

function notFound(modelId: string, looked: string[], required: readonly string[]): TruecastError {
  const what = required.length > 0 ? `its ${required.join(", ")}` : "its files";
  return new TruecastError(
    "BASE_NOT_FOUND",
    `base model ${modelId} not found: looked in ${looked.join("; ")}. Pass --base <folder> holding ${what}`,
  );
}

function missingOf(found: Map<string, string>, required: readonly string[]): string[] {
  return required.filter((n) => !found.has(n));
}

/**
 * Chooses the place (folder > cache > Hub) that has the `required` files and returns it with what it found of `want`.
 */
async function choosePlace(
  params: ResolveBaseParams,
  want: readonly string[],
  required: readonly string[],
): Promise<{ place: Place; found: Map<string, string> }> {
  const revision = params.revision ?? "main";
  const baseDir = params.baseDir ?? (isAbsolute(params.modelId) ? params.modelId : undefined);
  if (baseDir !== undefined) {
    const dir = resolve(baseDir);
    if (!(await isDir(dir))) throw notFound(params.modelId, [`--base ${dir} (not a folder)`], required);
    const place = folderPlace(dir);
    const found = await place.get(want);
    const lacking = missingOf(found, required);
    if (lacking.length > 0) throw notFound(params.modelId, [`--base ${dir} (it has no ${lacking.join(", ")})`], required);
    return { place, found };
  }
  checkModelId(params.modelId, "base model");
  const env = params.env ?? process.env;
  const hfEnv = hfEnvironment(env);
  const cacheDir = params.cacheDir ?? hfEnv.cacheDir;
  const token = hfEnv.offline ? undefined : await hfToken(env);
  const hub: HubAccess | null = hfEnv.offline
    ? null
    : {
        modelId: params.modelId, cacheDir, endpoint: hfEnv.endpoint, timeouts: httpTimeouts(env),
        ...(token === undefined ? {} : { token }), ...(params.fetch === undefined ? {} : { fetch: params.fetch }),
      };
  const looked: string[] = [];

  const snap = await findCachedSnapshot({ cacheDir, modelId: params.modelId, revision, want: required });
  const cacheWhere = `the Hugging Face cache ${repoFolder(cacheDir, params.modelId)}`;
  if (snap === null) looked.push(`${cacheWhere} (no snapshot for ${revision})`);
  else if (snap.present.size < required.length) {
    looked.push(`${cacheWhere} (snapshot ${snap.commit} has no ${missingOf(snap.present, required).join(", ")})`);
  } else {
    const place = cachePlace({ snapshotDir: snap.dir, commit: snap.commit, hub });
    return { place, found: await place.get(want) };
  }

  if (hub === null) {
    looked.push("the Hub (offline: HF_HUB_OFFLINE is set)");
    throw notFound(params.modelId, looked, required);
  }
  const place = hubPlace(hub, revision);
  try {
    const found = await place.get(want);
    const lacking = missingOf(found, required);
    if (lacking.length === 0) return { place, found };
    looked.push(`the Hub at ${hub.endpoint} (model has no ${lacking.join(", ")})`);
  } catch (e) {
    looked.push(describeHubFailure(e, hub.endpoint, params.modelId));
  }
  throw notFound(params.modelId, looked, required);
}

function result(place: Place, found: Map<string, string>): ResolvedBase {
  return {
    dir: place.dir,
    files: found,
    from: place.from,
    ...(place.commit === undefined ? {} : { commit: place.commit }),
    notes: place.notes,
  };
}

/** The base model's small files (config, generation config, tokenizer), from the first place that has them. */
export async function resolveBaseModelFiles(params: ResolveBaseFilesParams): Promise<ResolvedBase> {
  const required = params.required ?? (params.want.includes("config.json") ? ["config.json"] : []);
  const { place, found } = await choosePlace(params, params.want, required);
  return result(place, found);
}

/** Weight layouts tried in this order: the first whose index or single file exists is used. */
const WEIGHT_LAYOUTS = [
  { index: "model.safetensors.index.json", single: "model.safetensors" },
  { index: "pytorch_model.bin.index.json", single: "pytorch_model.bin" },
] as const;

export interface ResolvedBaseWeights extends ResolvedBase {
  /** The weight files (shards sorted by name, or the single file), relative to `dir`. */
  weights: string[];
}

async function shardsOf(indexPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await readSideFile(indexPath, INDEX_FILE);
  } catch (e) {
    if (e instanceof TruecastError) throw e;
    throw new TruecastError("INDEX_INVALID", `${indexPath}: not readable (${e instanceof Error ? e.message : String(e)})`);
  }
  const parsed = parseSideJson(text, indexPath, INDEX_FILE);
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null) throw new TruecastError("INDEX_INVALID", `${indexPath}: no weight_map object`);
  const shards = new Set<string>();
  for (const v of Object.values(map)) {
    if (typeof v !== "string") throw new TruecastError("INDEX_INVALID", `${indexPath}: weight_map holds a non-string shard name`);
    checkRepoPath(v);
    shards.add(v);
  }
  return [...shards].sort();
}

/**
 * The folder holding a base model's weights (and config.json), for LoRA merges and quantized experiments:
 * `--base`, else the cache snapshot, else downloaded from the Hub (index first, then its shards).
 */
export async function resolveBaseModelDir(params: ResolveBaseParams): Promise<ResolvedBaseWeights> {
  const { place, found } = await choosePlace(params, ["config.json"], ["config.json"]);
  const where = place.from === "folder" ? `--base ${place.dir}` : `${place.dir} (${place.from})`;
  for (const layout of WEIGHT_LAYOUTS) {
    const idx = await place.get([layout.index]);
    const indexPath = idx.get(layout.index);
    if (indexPath !== undefined) {
      const shards = await shardsOf(indexPath);
      const got = await place.get(shards);
      const lacking = shards.filter((s) => !got.has(s));
      if (lacking.length > 0) {
        const why = place.notes.length > 0 ? ` (${place.notes[place.notes.length - 1]})` : "";
        throw new TruecastError(
          "BASE_NOT_FOUND",
          `base model ${params.modelId}: ${where} lacks the shards ${lacking.join(", ")} its ${layout.index} names${why}; pass --base <folder> with the complete weights`,
        );
      }
      for (const [n, p] of [...idx, ...got]) found.set(n, p);
      return { ...result(place, found), weights: shards };
    }
    const single = await place.get([layout.single]);
    const singlePath = single.get(layout.single);
    if (singlePath !== undefined) {
      found.set(layout.single, singlePath);
      return { ...result(place, found), weights: [layout.single] };
    }
  }
  throw new TruecastError(
    "BASE_NOT_FOUND",
    `base model ${params.modelId}: ${where} has config.json but no weights (model.safetensors, its index, or pytorch_model.bin); pass --base <folder> with the weights`,
  );
}
