/**
 * A local folder as a {@link ModelStore}. Symbolic links are followed only to files inside the folder (or, for a
 * Hugging Face cache snapshot, inside its repository folder, whose snapshot entries point into `blobs/`, named by
 * their SHA-256 for LFS files); a link anywhere else is refused by name when listed.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { TruecastError } from "../errors.js";
import { fileAccess } from "../formats/zip.js";
import { openForRead, readRangeChunks } from "../formats/safetensors/read.js";
import { allowedRoot, checkInsideRoot } from "../util/real-path.js";
import type { ModelStore, StoreEntry, StoreFile } from "./store.js";

/** How deep a model folder may nest; deeper trees are almost surely a mistake (a whole home folder). */
const MAX_DEPTH = 16;
const SHA256_NAME = /^[0-9a-f]{64}$/;

/** Opens the folder `dir` as a store (it must exist and be a folder). */
export async function openLocalStore(dir: string): Promise<ModelStore> {
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
      const handle = await openForRead(local);
      const size = (await handle.stat()).size;
      const access = fileAccess(handle, size);
      const file: StoreFile = {
        path,
        size,
        read: access.read,
        chunks: (start, length, chunkSize, alloc) => readRangeChunks(local, start, length, chunkSize, alloc),
        close: () => handle.close(),
      };
      return file;
    },
    stats: () => ({ requests: 0, bytesRead: 0 }),
    async close() {},
  };
  return store;
}
