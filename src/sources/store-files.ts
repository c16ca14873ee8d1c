/**
 * How sources read a {@link ModelStore}: the files at its top level, a side file through the capped reader, and a
 * byte range streamed from a file opened for that read and closed after it (so a source holds no handle between
 * reads, however many tensors it has).
 */
import { readSideFile, readSideFileFrom, type SideFileKind } from "../formats/side-file.js";
import { storeFileName, type ModelStore, type StoreEntry, type StoreFile } from "../store/store.js";
import type { SourceFile } from "./tensor-ref.js";

/** The files at the top of the store (no '/' in their path), by name, in listing order. */
export async function topLevelFiles(store: ModelStore): Promise<Map<string, StoreEntry>> {
  const out = new Map<string, StoreEntry>();
  for (const e of await store.list()) if (!e.path.includes("/")) out.set(e.path, e);
  return out;
}

/** The folder a local store reads, or undefined for a remote one. */
export function localRoot(store: ModelStore): string | undefined {
  return store.localPath === undefined ? undefined : store.label;
}

/** Runs `use` on the store's file `path`, closing it after, also on error. */
export async function withStoreFile<T>(store: ModelStore, path: string, use: (file: StoreFile) => Promise<T>): Promise<T> {
  const file = await store.open(path);
  try {
    return await use(file);
  } finally {
    await file.close();
  }
}

/**
 * A side file's text through the capped reader ({@link readSideFile}): a local store's file read from its path
 * exactly as before stores existed, any other store's through one open and one read.
 */
export async function readStoreSideFile(store: ModelStore, path: string, kind: SideFileKind): Promise<string> {
  const local = store.localPath?.(path);
  if (local !== undefined) return readSideFile(local, kind);
  return withStoreFile(store, path, (file) => readSideFileFrom(file, storeFileName(store, path), kind));
}

/**
 * `length` bytes of the store's file `path` from `start`, as chunks (see {@link StoreFile.chunks}); the file is
 * opened when iteration starts and closed when it ends, early or on error.
 */
export async function* storeRangeChunks(params: {
  store: ModelStore;
  path: string;
  start: number;
  length: number;
  chunkSize: number;
  alloc?: (byteLength: number) => Uint8Array;
}): AsyncGenerator<Uint8Array, void, undefined> {
  const { store, path, start, length, chunkSize, alloc } = params;
  if (length === 0) return;
  const file = await store.open(path);
  try {
    yield* file.chunks(start, length, chunkSize, alloc);
  } finally {
    await file.close();
  }
}

/**
 * The weight files `names` of the store as a source lists them for its digests: a local store's by their path on
 * this machine (hashed by the export); a remote store's with the size and SHA-256 its listing gives (a Hub repo's
 * LFS oids), or not at all where the listing has none.
 */
export async function storeWeightFiles(store: ModelStore, names: readonly string[]): Promise<SourceFile[]> {
  if (store.localPath !== undefined) {
    const localPath = store.localPath.bind(store);
    return names.map((name) => ({ path: localPath(name), name, role: "source" as const }));
  }
  const listed = new Map((await store.list()).map((e) => [e.path, e]));
  return names.flatMap((name) => {
    const e = listed.get(name);
    return e?.sha256 === undefined ? [] : [{ path: storeFileName(store, name), name, role: "source" as const, known: { bytes: e.size, sha256: e.sha256 } }];
  });
}
