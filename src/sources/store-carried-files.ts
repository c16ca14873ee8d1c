/**
 * The small files a store-backed source carries into an export (config, tokenizer, README, ...). A source's
 * `files` are local paths the export copies with its real-path checks, so a local store's files are carried in
 * place, exactly as found by {@link scanModelFiles}; a remote store's are copied into a private temporary folder
 * first (each under MAX_CARRIED_FILE_SIZE, as for a local folder), which the source removes when it is closed.
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TruecastError } from "../errors.js";
import { isPlainFileName } from "../formats/safetensors/index-file.js";
import { storeFileName, type ModelStore, type StoreEntry } from "../store/store.js";
import { MAX_CARRIED_FILE_SIZE, isWeightFileName, scanModelFiles, type ModelFilesScan } from "./model-files.js";
import { localRoot, topLevelFiles, withStoreFile } from "./store-files.js";

/** Chunk size of the copy into the temporary folder: memory stays at one chunk whatever the file's size. */
const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

export interface StoreCarriedFiles extends ModelFilesScan {
  /** Removes the temporary folder of a remote store's files (nothing for a local store). Safe to call twice. */
  cleanup(): Promise<void>;
}

/** The top-level files of a remote listing that travel into an export, and those left behind with the reason. */
function carriedEntries(top: ReadonlyMap<string, StoreEntry>): { carry: StoreEntry[]; skipped: ModelFilesScan["skipped"] } {
  const carry: StoreEntry[] = [];
  const skipped: ModelFilesScan["skipped"] = [];
  for (const [name, e] of [...top].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name.startsWith(".") || isWeightFileName(name) || name === "truecast-report.json" || !isPlainFileName(name)) continue;
    if (e.size >= MAX_CARRIED_FILE_SIZE) {
      skipped.push({ name, reason: `${e.size} bytes; carried files must be under ${MAX_CARRIED_FILE_SIZE} bytes` });
      continue;
    }
    carry.push(e);
  }
  return { carry, skipped };
}

/** Copies the store's file `entry` to `dest`, checking it has the size the listing gave. */
async function copyOut(store: ModelStore, entry: StoreEntry, dest: string): Promise<void> {
  await withStoreFile(store, entry.path, async (file) => {
    if (file.size !== entry.size) {
      throw new TruecastError("UNREADABLE", `${storeFileName(store, entry.path)}: ${file.size} bytes when opened, ${entry.size} when listed; it changed meanwhile: run again`);
    }
    const out = await open(dest, "wx", 0o600);
    try {
      for await (const chunk of file.chunks(0, file.size, COPY_CHUNK_BYTES)) await out.write(chunk);
    } finally {
      await out.close();
    }
  });
}

/**
 * The carried files of `store`: a local store's scanned in place ({@link scanModelFiles} of its folder), a remote
 * store's copied into a new private temporary folder. On failure nothing is left behind.
 */
export async function storeCarriedFiles(store: ModelStore): Promise<StoreCarriedFiles> {
  const root = localRoot(store);
  if (root !== undefined) return { ...(await scanModelFiles(root)), cleanup: async () => {} };
  const { carry, skipped } = carriedEntries(await topLevelFiles(store));
  if (carry.length === 0) return { files: new Map(), skipped, cleanup: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), "truecast-carried-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const files = new Map<string, string>();
  try {
    for (const e of carry) {
      const dest = join(dir, e.path);
      await copyOut(store, e, dest);
      files.set(e.path, dest);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { files, skipped, cleanup };
}
