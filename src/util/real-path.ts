/**
 * Real paths (symbolic links followed) and the questions asked of them: is one path inside another, does an
 * output overlap an input, does a carried file stay inside the folder it was found in. Names given by the user
 * are never compared as they are spelled: `vlink` → `v` and `here/v` with `here` → `.` are the same folder.
 */
import { lstat, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { TruecastError } from "../errors.js";

function errnoCode(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
}

/** Is `child` the same path as `parent`, or below it? Both absolute and already real. */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + sep) && !rel.startsWith(sep) && !/^[A-Za-z]:/.test(rel));
}

/**
 * The real path of `path`; for a path that does not exist (yet), the real path of its nearest existing
 * ancestor joined with the rest, which is where it will be once created.
 */
export async function realPathOf(path: string): Promise<string> {
  let existing = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(existing), ...rest);
    } catch (e) {
      const code = errnoCode(e);
      if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
      const up = dirname(existing);
      if (up === existing) throw e;
      rest.unshift(basename(existing));
      existing = up;
    }
  }
}

/** `dev:ino` of `path` and of every existing ancestor (bind mounts and case-folding file systems are caught by these). */
async function identities(path: string): Promise<Set<string>> {
  const ids = new Set<string>();
  let p = path;
  for (;;) {
    try {
      const s = await stat(p);
      ids.add(`${s.dev}:${s.ino}`);
    } catch {
      // not there yet
    }
    const up = dirname(p);
    if (up === p) return ids;
    p = up;
  }
}

async function identity(path: string): Promise<string | null> {
  try {
    const s = await stat(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}

/** An input of a run that its output must never touch. */
export interface ProtectedPath {
  readonly path: string;
  /** What it is, for the message: "source", "base model folder", "adapter", "model card". */
  readonly what: string;
}

/**
 * Refuse an output that overlaps an input in either direction, comparing real paths and device/inode numbers of
 * the paths and their ancestors: an output inside an input would write into it, and an input inside the output
 * would be deleted by `--force`. Inputs that do not exist are left to the code that reads them.
 */
export async function checkNoOverlap(out: string, inputs: readonly ProtectedPath[]): Promise<void> {
  const realOut = await realPathOf(out);
  const outIds = await identities(realOut);
  const outId = await identity(realOut);
  const via = realOut !== resolve(out) ? ` (${out} is really ${realOut})` : "";
  for (const input of inputs) {
    let realIn: string;
    try {
      realIn = await realpath(input.path);
    } catch {
      continue;
    }
    const inId = await identity(realIn);
    const inVia = realIn !== resolve(input.path) ? ` (${input.path} is really ${realIn})` : "";
    if (isInside(realOut, realIn) || (inId !== null && outIds.has(inId))) {
      throw new TruecastError(
        "OUTPUT_OVERLAP",
        `the output ${out} is the ${input.what} ${input.path} or inside it${via}${inVia}; nothing was written or deleted; choose an output folder outside it`,
      );
    }
    if (isInside(realIn, realOut) || (outId !== null && (await identities(realIn)).has(outId))) {
      throw new TruecastError(
        "OUTPUT_OVERLAP",
        `the ${input.what} ${input.path} is inside the output ${out}${via}${inVia}, which would delete it; nothing was written or deleted; choose an output folder outside it`,
      );
    }
  }
}

/**
 * The folder a file found in `dir` may point into: `dir` itself, or for a Hugging Face cache snapshot
 * (`…/models--org--name/snapshots/<commit>`), the whole repository folder, whose snapshot entries are symbolic
 * links into `../../blobs/` by design.
 */
export async function allowedRoot(dir: string): Promise<string> {
  const abs = resolve(dir);
  const m = /^(.*[\\/]models--[^\\/]+)[\\/]snapshots[\\/][^\\/]+$/.exec(abs);
  if (!m?.[1]) return abs;
  // Only a real snapshot: the name is spelled, so `models--x` could be a link to a home folder whose
  // `snapshots/<dir>` would then let links reach all of it. The real folder must be `<real repo>/snapshots/<name>`.
  const [realDir, realRepo] = await Promise.all([realpath(abs).catch(() => null), realpath(m[1]).catch(() => null)]);
  if (realDir === null || realRepo === null || realRepo === dirname(realRepo)) return abs;
  return dirname(realDir) === join(realRepo, "snapshots") && basename(realRepo).startsWith("models--") ? m[1] : abs;
}

/**
 * Refuse a file that is really somewhere outside `root` (a symbolic link such as `LICENSE → /etc/shadow` or
 * `special_tokens_map.json → ~/.cache/huggingface/token`). Returns its real path.
 */
export async function checkInsideRoot(path: string, root: string): Promise<string> {
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === "ENOENT") {
      const link = await lstat(path).then((s) => s.isSymbolicLink(), () => false);
      throw new TruecastError("NOT_FOUND", `${path}: ${link ? "a symbolic link to nothing" : "no such file"}; remove it or fix the link`, { cause: e });
    }
    if (code === "EACCES" || code === "EPERM") throw new TruecastError("UNREADABLE", `${path}: permission denied; check its permissions`, { cause: e });
    throw new TruecastError("UNREADABLE", `${path}: cannot be resolved (${code || String(e)})`, { cause: e });
  }
  if (!isInside(real, realRoot)) {
    throw new TruecastError(
      "LINK_OUTSIDE",
      `${path} is a link to ${real}, outside ${root}; truecast never carries a file from outside the model's folder into an export or onto the Hub; copy the file into the folder if you mean to ship it`,
    );
  }
  return real;
}

/** {@link checkInsideRoot} with the root taken from where the file was found (its folder, or the cache repo). */
export async function checkCarriedPath(path: string): Promise<string> {
  return checkInsideRoot(path, await allowedRoot(dirname(resolve(path))));
}
