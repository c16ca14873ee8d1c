/**
 * A local folder as a {@link ModelStore}. Symbolic links are followed only to files inside the folder (or, for a
 * Hugging Face cache snapshot, inside its repository folder, whose snapshot entries point into `blobs/`, named by
 * their SHA-256 for LFS files); a link anywhere else is refused by name when listed.
 *
 * Sources open their folders {@link LocalStoreOptions.asFound | as found} instead: the top level only, links
 * followed wherever they point (weights are read where they are; a carried file's link is checked by the export
 * where it copies it), broken links left out of the listing, and any file of the folder opened by its path.
 */
import { readdir, realpath, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { TruecastError } from "../errors.js";
import { handleAccess, handleRangeChunks, openForRead } from "../formats/safetensors/read.js";
import { allowedRoot, checkInsideRoot } from "../util/real-path.js";
import type { ModelStore, StoreEntry, StoreFile } from "./store.js";

/** How deep a model folder may nest; deeper trees are almost surely a mistake (a whole home folder). */
const MAX_DEPTH = 16;
const SHA256_NAME = /^[0-9a-f]{64}$/;

export interface LocalStoreOptions {
  /**
   * List the folder's top level only, following links wherever they point and leaving out what cannot be stat'ed
   * (a broken link) or is not a file; open any path of the folder, listed or not. How sources read a local folder
   * (their checks of where a carried file's link points are the export's, file by file). The folder is not
   * checked at open: listing a folder that is not there fails as `readdir` does. Default false.
   */
  readonly asFound?: boolean;
}

/** A {@link StoreFile} over an open handle of the local file `local`, named `path` in its store. */
async function localFile(path: string, local: string): Promise<StoreFile> {
  const handle: FileHandle = await openForRead(local);
  let size: number;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new TruecastError("UNREADABLE", `${local}: is ${info.isDirectory() ? "a folder" : "not a regular file"}, not a file to read`);
    size = info.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  const access = handleAccess(handle, size, local);
  return {
    path,
    size,
    read: access.read,
    chunks: (start, length, chunkSize, alloc) => handleRangeChunks({ handle, path: local, start, length, chunkSize, ...(alloc ? { alloc } : {}) }),
    close: () => handle.close(),
  };
}

/** Opens the folder `dir` as a store (it must exist and be a folder). */
export async function openLocalStore(dir: string, options: LocalStoreOptions = {}): Promise<ModelStore> {
  if (options.asFound === true) return asFoundStore(dir);
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new TruecastError("NOT_FOUND", `${dir} does not exist; check the path`);
  }
  if (!info.isDirectory()) throw new TruecastError("USAGE", `${dir} is not a folder`);
  const root = await allowedRoot(dir);
  const inCache = root !== (await realpath(dir).catch(() => dir)) && /models--/.test(root);
  let listing: StoreEntry[] | undefined;
  const byPath = new Map<string, string>();

  async function walk(at: string, prefix: string, depth: number, out: StoreEntry[]): Promise<void> {
    if (depth > MAX_DEPTH) throw new TruecastError("USAGE", `${at} is nested more than ${MAX_DEPTH} folders deep; give a model folder`);
    const entries = await readdir(at, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const local = join(at, e.name);
      const path = prefix ? `${prefix}/${e.name}` : e.name;
      let real: string | undefined;
      if (e.isSymbolicLink()) real = await checkInsideRoot(local, root);
      const s = await stat(local);
      if (s.isDirectory()) await walk(local, path, depth + 1, out);
      else if (s.isFile()) {
        const blob = real !== undefined && inCache ? basename(real) : "";
        out.push({ path, size: s.size, ...(SHA256_NAME.test(blob) ? { sha256: blob } : {}) });
        byPath.set(path, local);
      }
    }
  }

  const store: ModelStore = {
    label: dir,
    remote: false,
    async list() {
      if (listing === undefined) {
        const out: StoreEntry[] = [];
        await walk(dir, "", 0, out);
        listing = out;
      }
      return listing;
    },
    async open(path) {
      if (listing === undefined) await store.list();
      const local = byPath.get(path);
      if (local === undefined) throw new TruecastError("NOT_FOUND", `${join(dir, path)}: no such file`);
      return localFile(path, local);
    },
    localPath: (path) => join(dir, path),
    stats: () => ({ requests: 0, bytesRead: 0 }),
    async close() {},
  };
  return store;
}

/** The folder as sources read it ({@link LocalStoreOptions.asFound}). */
function asFoundStore(dir: string): ModelStore {
  return {
    label: dir,
    remote: false,
    async list() {
      let all: string[];
      try {
        all = await readdir(dir);
      } catch (e) {
        throw folderError(dir, e);
      }
      const names = all.filter((n) => !n.startsWith(".")).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const out: StoreEntry[] = [];
      for (const name of names) {
        const s = await stat(join(dir, name)).catch(() => null);
        if (s?.isFile() === true) out.push({ path: name, size: s.size });
      }
      return out;
    },
    open: (path) => localFile(path, join(dir, path)),
    localPath: (path) => join(dir, path),
    stats: () => ({ requests: 0, bytesRead: 0 }),
    async close() {},
  };
}

/**
 * One local file as a store of that file alone (named by its base name), read as found: a checkpoint given by
 * its path. Messages name it by `path` exactly as given.
 */
export function openLocalFileStore(path: string): ModelStore {
  const name = basename(path);
  const folder = asFoundStore(dirname(path));
  return {
    ...folder,
    async list() {
      return (await folder.list()).filter((e) => e.path === name);
    },
    open: (p) => localFile(p, p === name ? path : join(dirname(path), p)),
    localPath: (p) => (p === name ? path : join(dirname(path), p)),
  };
}

/** Maps a Node error listing the folder `dir` to NOT_FOUND or UNREADABLE, naming it. */
export function folderError(dir: string, e: unknown): TruecastError {
  const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
  if (code === "ENOENT") return new TruecastError("NOT_FOUND", `${dir}: no such folder`, { cause: e });
  if (code === "ENOTDIR") return new TruecastError("UNREADABLE", `${dir}: is a file, not a folder`, { cause: e });
  if (code === "EACCES" || code === "EPERM") {
    return new TruecastError("UNREADABLE", `${dir}: permission denied; check the folder's permissions`, { cause: e });
  }
  const detail = e instanceof Error ? e.message : String(e);
  return new TruecastError("UNREADABLE", `${dir}: cannot be listed (${detail})`, { cause: e });
}
