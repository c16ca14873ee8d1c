import { lstat, mkdir, readdir, rename, rm, rmdir, stat, statfs } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { checkNoOverlap, isInside, type ProtectedPath } from "../util/real-path.js";
import { removeStaleStaging, stagingName } from "./stale-staging.js";
import { formatBytes } from "./units.js";

/** Head-room kept free beyond the planned bytes, for the small files and the file system's own blocks. */
export const FREE_SPACE_MARGIN = 16 * 1024 * 1024;

async function exists(path: string): Promise<"missing" | "empty-dir" | "non-empty-dir" | "file"> {
  try {
    const s = await stat(path);
    if (!s.isDirectory()) return "file";
    return (await readdir(path)).length === 0 ? "empty-dir" : "non-empty-dir";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw new TruecastError("UNREADABLE", `cannot check ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

async function statfsFree(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return Number(fs.bavail) * Number(fs.bsize);
}

/**
 * What {@link StagedOutput.create} checks before it writes anything, without writing: the output overlaps none of
 * `protect`, is not a file, and is not a non-empty folder unless `force`. Returns what is there now.
 */
export async function checkOutputFolder(params: { out: string; force: boolean; protect?: readonly (string | ProtectedPath)[] }): Promise<"missing" | "empty-dir" | "non-empty-dir"> {
  await checkNoOverlap(params.out, (params.protect ?? []).map((p) => (typeof p === "string" ? { path: p, what: "source" } : p)));
  const state = await exists(resolve(params.out));
  if (state === "file") throw new TruecastError("OUTPUT_EXISTS", `${params.out} is a file; choose a folder path for the output`);
  if (state === "non-empty-dir" && !params.force) {
    throw new TruecastError("OUTPUT_EXISTS", `${params.out} already exists and is not empty; choose another folder or pass --force to replace it`);
  }
  return state;
}

/**
 * Refuse to start when the file system holding `dir` cannot hold `bytes` more (`out` names the output in the
 * message). `freeBytes` measures the free space of a folder (default: statfs, blocks available to this user ×
 * block size).
 */
export async function checkFreeSpaceIn(dir: string, out: string, bytes: number, freeBytes: (dir: string) => Promise<number> = statfsFree): Promise<{ free: number }> {
  const free = await freeBytes(dir);
  if (free < bytes + FREE_SPACE_MARGIN) {
    throw new TruecastError(
      "NO_SPACE",
      `the export needs ${formatBytes(bytes + FREE_SPACE_MARGIN)} (${formatBytes(bytes)} of files and ${formatBytes(FREE_SPACE_MARGIN)} of head-room) but only ${formatBytes(free)} is free where ${out} goes; free some space or choose another output folder`,
    );
  }
  return { free };
}

/**
 * An output folder written under a temporary sibling name and renamed into place only on success,
 * so that a failed run leaves nothing at the output path and an existing output is replaced only with `force`.
 */
export class StagedOutput {
  private constructor(
    readonly out: string,
    readonly staging: string,
    private readonly replace: boolean,
    /** The topmost of the output's parent folders that `create` made (none existed), removed again by `discard`. */
    private readonly createdParent?: string,
  ) {}

  /** Stale staging folders of dead runs that `create` removed from the parent folder, one line each. */
  removedStale: readonly string[] = [];

  /**
   * Stage an output folder. `protect` lists the run's inputs: an output that overlaps any of them, once symbolic
   * links are followed, is refused before anything is written or deleted.
   */
  static async create(params: { out: string; force: boolean; protect?: readonly (string | ProtectedPath)[] }): Promise<StagedOutput> {
    const out = resolve(params.out);
    const state = await checkOutputFolder(params);
    const parent = dirname(out);
    let createdParent: string | undefined;
    try {
      createdParent = await mkdir(parent, { recursive: true });
    } catch (e) {
      throw new TruecastError("UNREADABLE", `cannot create ${parent} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const removedStale = await removeStaleStaging(parent);
    const staging = join(parent, stagingName(out));
    try {
      await mkdir(staging);
    } catch (e) {
      throw new TruecastError("UNREADABLE", `cannot write in ${parent} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const staged = new StagedOutput(out, staging, state !== "missing", createdParent);
    staged.removedStale = removedStale;
    return staged;
  }

  /**
   * Refuse to start when the file system cannot hold `bytes` more. `freeBytes` measures the free space of a
   * folder (default: statfs, blocks available to this user × block size).
   */
  async checkFreeSpace(bytes: number, freeBytes: (dir: string) => Promise<number> = statfsFree): Promise<{ free: number }> {
    return checkFreeSpaceIn(this.staging, this.out, bytes, freeBytes);
  }

  path(name: string): string {
    return join(this.staging, name);
  }

  /**
   * Move the finished folder into place (replacing an existing one only when created with force). When another
   * run created or replaced the output meanwhile, its folder is left as it is and this one is refused.
   */
  async commit(): Promise<void> {
    const raced = (e: unknown): TruecastError =>
      new TruecastError(
        "OUTPUT_EXISTS",
        `${this.out} was written by another run while this one was working; it was left as that run wrote it and this export was discarded; run again (with --force to replace it)`,
        { cause: e },
      );
    const racing = (e: unknown): boolean => ["ENOTEMPTY", "EEXIST", "ENOENT", "ENOTDIR", "EISDIR"].includes((e as NodeJS.ErrnoException).code ?? "");
    if (!this.replace) {
      try {
        await rename(this.staging, this.out);
      } catch (e) {
        throw racing(e) ? raced(e) : e;
      }
      return;
    }
    const old = `${this.staging}.old`;
    try {
      await rename(this.out, old);
    } catch (e) {
      throw racing(e) ? raced(e) : e;
    }
    try {
      await rename(this.staging, this.out);
    } catch (e) {
      await rename(old, this.out).catch(() => undefined);
      throw racing(e) ? raced(e) : e;
    }
    await rm(old, { recursive: true, force: true });
  }

  /**
   * The clear error for a write that found the disk full: which file, how much of the planned `needed` bytes had
   * been written, and about how much more space was missing.
   */
  async spaceError(e: unknown, file: string, needed: number, freeBytes: (dir: string) => Promise<number> = statfsFree): Promise<TruecastError> {
    let written = 0;
    try {
      for (const name of await readdir(this.staging)) written += (await lstat(join(this.staging, name))).size;
    } catch {
      // counted what could be
    }
    const free = await freeBytes(this.staging).catch(() => 0);
    const missing = Math.max(needed + FREE_SPACE_MARGIN - written - free, 1);
    return new TruecastError(
      "NO_SPACE",
      `no space left on the disk holding ${this.out} while writing ${file}: ${formatBytes(written)} of ${formatBytes(needed)} was written and about ${formatBytes(missing)} more is needed (the disk filled up after the free-space check); nothing was left at ${this.out}; free some space or choose another output folder`,
      { cause: e },
    );
  }

  /** Remove the staging folder (after a failure), and the parent folders `create` made, while they are empty. */
  async discard(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
    if (this.createdParent === undefined) return;
    for (let dir = dirname(this.out); ; dir = dirname(dir)) {
      // rmdir removes only an empty folder: one that something else wrote into meanwhile stays.
      if (!isInside(dir, this.createdParent)) return;
      if (!(await rmdir(dir).then(() => true, () => false)) || dir === this.createdParent || dirname(dir) === dir) return;
    }
  }
}
