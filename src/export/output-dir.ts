import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, statfs } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { TruecastError } from "../errors.js";
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

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith(sep) && rel !== "..");
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
  ) {}

  static async create(params: { out: string; force: boolean; protect?: readonly string[] }): Promise<StagedOutput> {
    const out = resolve(params.out);
    for (const p of params.protect ?? []) {
      const src = resolve(p);
      if (inside(out, src) || inside(src, out)) {
        throw new TruecastError("OUTPUT_EXISTS", `the output ${params.out} overlaps the source ${p}; choose an output folder outside it`);
      }
    }
    const state = await exists(out);
    if (state === "file") throw new TruecastError("OUTPUT_EXISTS", `${params.out} is a file; choose a folder path for the output`);
    if (state === "non-empty-dir" && !params.force) {
      throw new TruecastError("OUTPUT_EXISTS", `${params.out} already exists and is not empty; choose another folder or pass --force to replace it`);
    }
    const parent = dirname(out);
    try {
      await mkdir(parent, { recursive: true });
    } catch (e) {
      throw new TruecastError("UNREADABLE", `cannot create ${parent} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const staging = join(parent, `.${basename(out)}.truecast-${process.pid}-${randomBytes(4).toString("hex")}`);
    try {
      await mkdir(staging);
    } catch (e) {
      throw new TruecastError("UNREADABLE", `cannot write in ${parent} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return new StagedOutput(out, staging, state !== "missing");
  }

  /**
   * Refuse to start when the file system cannot hold `bytes` more. `freeBytes` measures the free space of a
   * folder (default: statfs, blocks available to this user × block size).
   */
  async checkFreeSpace(bytes: number, freeBytes: (dir: string) => Promise<number> = statfsFree): Promise<{ free: number }> {
    const free = await freeBytes(this.staging);
    if (free < bytes + FREE_SPACE_MARGIN) {
      throw new TruecastError(
        "NO_SPACE",
        `the export needs ${formatBytes(bytes + FREE_SPACE_MARGIN)} (${formatBytes(bytes)} of files and ${formatBytes(FREE_SPACE_MARGIN)} of head-room) but only ${formatBytes(free)} is free where ${this.out} goes; free some space or choose another output folder`,
      );
    }
    return { free };
  }

  path(name: string): string {
    return join(this.staging, name);
  }

  /** Move the finished folder into place (replacing an existing one only when created with force). */
  async commit(): Promise<void> {
    if (!this.replace) {
      await rename(this.staging, this.out);
      return;
    }
    const old = `${this.staging}.old`;
    await rename(this.out, old);
    try {
      await rename(this.staging, this.out);
    } catch (e) {
      await rename(old, this.out);
      throw e;
    }
    await rm(old, { recursive: true, force: true });
  }

  /** Remove the staging folder (after a failure). */
  async discard(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
  }
}
