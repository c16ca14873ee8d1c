import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../errors.js";

/**
 * The Hugging Face cache layout shared with Python's huggingface_hub:
 * `<cache>/models--{org}--{name}/refs/{revision}` holds a commit hash, `snapshots/{commit}/{file}` the files
 * (usually symlinks into `blobs/`), and `.no_exist/{commit}/{file}` marks files the repository does not have.
 */

/** A full git commit hash, as the cache names snapshot folders. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** huggingface_hub's repo id rule: `name` or `namespace/name`, word characters, `-` and `.`, no `--` or `..`. */
const REPO_ID = /^(?:[\w.-]+\/)?[\w.-]+$/;
/** huggingface_hub rejects longer repo ids. */
const MAX_REPO_ID_LENGTH = 96;

/** Throws unless `modelId` is a Hub model id that is safe to use as part of a cache path. */
export function checkModelId(modelId: string, where: string): void {
  const ok =
    modelId.length <= MAX_REPO_ID_LENGTH &&
    REPO_ID.test(modelId) &&
    !modelId.includes("--") &&
    !modelId.includes("..") &&
    !/(^|\/)[.-]|[.-]($|\/)/.test(modelId);
  if (!ok) {
    throw new TruecastError(
      "BASE_NOT_FOUND",
      `${where}: "${modelId}" is not a Hugging Face model id (namespace/name); pass --base <folder> with the base model's files`,
    );
  }
}

/** A file name inside a repository: relative, `/`-separated, no empty, `.` or `..` segment. */
export function checkRepoPath(path: string): void {
  const parts = path.split("/");
  if (path.includes("\\") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new TruecastError("INTERNAL", `"${path}" is not a relative file name inside a repository`);
  }
}

export function repoFolder(cacheDir: string, modelId: string): string {
  return join(cacheDir, "models--" + modelId.split("/").join("--"));
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export interface CachedSnapshot {
  readonly commit: string;
  readonly dir: string;
  /** Wanted files present in the snapshot: name → path (symlinks are left for the reader to follow). */
  readonly present: Map<string, string>;
  /** Wanted files the cache records as absent from the repository at this commit. */
  readonly absent: string[];
  /** Wanted files neither present nor recorded absent: never downloaded. */
  readonly missing: string[];
}

/**
 * The commit a revision points to in the cache: a full hash is taken as is, a branch or tag is read from `refs/`.
 * Null when the cache has never resolved that revision.
 */
export async function cachedCommit(folder: string, revision: string): Promise<string | null> {
  if (COMMIT_HASH.test(revision)) return revision;
  checkRepoPath(revision);
  try {
    const commit = (await readFile(join(folder, "refs", revision), "utf8")).trim();
    return COMMIT_HASH.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** What the cache holds of `want` for `modelId` at `revision`, or null when it has no snapshot for it. */
export async function findCachedSnapshot(params: {
  cacheDir: string;
  modelId: string;
  revision: string;
  want: readonly string[];
}): Promise<CachedSnapshot | null> {
  const folder = repoFolder(params.cacheDir, params.modelId);
  const commit = await cachedCommit(folder, params.revision);
  if (commit === null) return null;
  const dir = join(folder, "snapshots", commit);
  if (!(await isDir(dir))) return null;
  const present = new Map<string, string>();
  const absent: string[] = [];
  const missing: string[] = [];
  for (const name of params.want) {
    checkRepoPath(name);
    const path = join(dir, name);
    if (await isFile(path)) present.set(name, path);
    else if (await isFile(join(folder, ".no_exist", commit, name))) absent.push(name);
    else missing.push(name);
  }
  return { commit, dir, present, absent, missing };
}
