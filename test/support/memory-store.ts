/**
 * A {@link ModelStore} that is not the local file system: a Map of path → bytes held in memory, remote as far as
 * sources can tell (no local paths), counting what it is asked for. A file may be given by size alone (its bytes
 * read as zeros), so size caps can be tested without allocating them.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import type { ModelStore, StoreEntry, StoreFile } from "../../src/store/store.js";

export type MemoryFile = Uint8Array | { readonly size: number };

export interface MemoryStore extends ModelStore {
  /** Files opened so far. */
  readonly opens: number;
  /** Files open now (opened and not closed). */
  readonly openNow: number;
  /** Most files open at once. */
  readonly maxOpen: number;
  /** Positional reads and streamed ranges asked for. */
  readonly reads: number;
  /** Paths opened, in order. */
  readonly opened: readonly string[];
  /** Times close() was called. */
  readonly closes: number;
}

function bytesOf(f: MemoryFile, start: number, end: number): Uint8Array {
  return f instanceof Uint8Array ? f.slice(start, end) : new Uint8Array(Math.max(0, end - start));
}

/** A store of `files` named `label` (e.g. `mem://org/name`). `failOpen` makes opening that path fail. */
export function memoryStore(files: ReadonlyMap<string, MemoryFile>, label = "mem://org/model", opts: { failOpen?: string } = {}): MemoryStore {
  let opens = 0;
  let openNow = 0;
  let maxOpen = 0;
  let reads = 0;
  let closes = 0;
  let bytesRead = 0;
  const opened: string[] = [];
  const size = (f: MemoryFile) => (f instanceof Uint8Array ? f.byteLength : f.size);
  const store: MemoryStore = {
    label,
    remote: true,
    get opens() { return opens; },
    get openNow() { return openNow; },
    get maxOpen() { return maxOpen; },
    get reads() { return reads; },
    get opened() { return opened; },
    get closes() { return closes; },
    async list(): Promise<StoreEntry[]> {
      return [...files].filter(([p]) => !p.split("/").some((s) => s.startsWith("."))).map(([path, f]) => ({ path, size: size(f) })).sort((a, b) => (a.path < b.path ? -1 : 1));
    },
    async open(path): Promise<StoreFile> {
      const f = files.get(path);
      if (f === undefined) throw new TruecastError("NOT_FOUND", `${label}/${path}: no such file`);
      if (path === opts.failOpen) throw new TruecastError("UNREADABLE", `${label}/${path}: the store refused it`);
      opens++;
      openNow++;
      maxOpen = Math.max(maxOpen, openNow);
      opened.push(path);
      let closed = false;
      const n = size(f);
      return {
        path,
        size: n,
        async read(position, length) {
          reads++;
          const b = bytesOf(f, position, Math.min(n, position + length));
          bytesRead += b.byteLength;
          return b;
        },
        async *chunks(start, length, chunkSize, alloc) {
          reads++;
          for (let done = 0; done < length; ) {
            const k = Math.min(chunkSize, length - done);
            if (start + done + k > n) throw new TruecastError("ST_TRUNCATED", `${label}/${path}: ends at byte ${n}`);
            const b = bytesOf(f, start + done, start + done + k);
            const out = alloc ? alloc(k) : b;
            if (alloc) out.set(b);
            bytesRead += k;
            done += k;
            yield out;
          }
        },
        async close() {
          if (!closed) openNow--;
          closed = true;
        },
      };
    },
    stats: () => ({ requests: reads, bytesRead }),
    async close() {
      closes++;
    },
  };
  return store;
}

/** The files of the local folder `dir` (its whole tree), for {@link memoryStore}. */
export async function filesOf(dir: string, prefix = ""): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [p, b] of await filesOf(join(dir, e.name), path)) out.set(p, b);
    else if (e.isFile()) out.set(path, new Uint8Array(await readFile(join(dir, e.name))));
  }
  return out;
}
