/**
 * The SHA-256 of every source weight file of an export, for the model card and `truecast-report.json`: the digest
 * `sha256sum` prints and the Hub shows as a file's LFS oid, so that a user can match a source file to a Hub file.
 *
 * Where it comes from: a file in the Hugging Face cache is named by it (free); a file an earlier export hashed and
 * that has not changed since is found in the digest cache (export/digest-cache.ts: real path, device, inode, size,
 * mtime and ctime all equal; the report marks it `fromCache`); any other file is read once more, from
 * start to end, on worker threads (util/file-sha256.ts) that start with the export and run beside it, so that the
 * cost (~0.7 s of one core per GB, reading what the export also reads through the page cache) overlaps the
 * writing. Hashing in passing instead would not save the SHA-256 work itself, and the writer reads tensors in the
 * output's layout order, not the source file's (and skips a torch zip's pickle, headers and unused storages).
 *
 * Each file's identity (device, inode, size, mtime, ctime) is taken when the export starts; a file that differs while
 * it is hashed or when the export ends is refused (the digest would not describe the bytes exported). A digest read
 * here is recorded in the digest cache when the file is not racy (see digest-cache.ts).
 */
import { realpath, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { TruecastError } from "../errors.js";
import type { SourceFile, SourceFileRole } from "../sources/tensor-ref.js";
import { cachedBlobSha256 } from "../store/cache-blob.js";
import { sha256OnWorker, type FileSha256Params } from "../util/file-sha256.js";
import { identify, identityOf, sameIdentity, type DigestCache, type FileIdentity } from "./digest-cache.js";

/** Most threads hashing source files at once. */
const MAX_HASH_THREADS = 4;

/** A source weight file as the card and the report list it. */
export interface SourceFileDigest {
  /** Relative to the input it belongs to (never a local path): `model-00001-of-00002.safetensors`, `checkpoint.pth`. */
  readonly name: string;
  /** File size in bytes. */
  readonly bytes: number;
  /** SHA-256 of the whole file, 64 lowercase hex digits. */
  readonly sha256: string;
  /** Which input it belongs to: the source, the merged adapter, or the base model. */
  readonly role: SourceFileRole;
  /**
   * Present when the digest was not computed by this run but taken from truecast's digest cache, where an earlier
   * run that read the whole file recorded it, for the file's exact identity (real path, device, inode, size,
   * mtime and ctime in nanoseconds), which it still has.
   */
  readonly fromCache?: true;
}

/** Digests being computed beside an export. */
export interface SourceDigests {
  /** Bytes hashed so far (files named by the cache count as done) and the total. */
  progress(): { readonly bytes: number; readonly total: number };
  /**
   * Every file's digest, in the order given (a file listed twice, by any name, once), after checking that no file
   * changed since the start. Rejects with the hashing error, or UNREADABLE for a file that changed.
   */
  result(): Promise<SourceFileDigest[]>;
  /** Stops hashing (the export failed); result() then rejects. */
  cancel(): void;
}

interface Snapshot {
  readonly file: SourceFile;
  readonly size: number;
  readonly mtimeMs: number;
  /** A local file's identity when the export started; null for a file the store knows without reading it. */
  readonly id: FileIdentity | null;
  /** The digest known without reading the file (cache blob name, digest cache), or null. */
  readonly cached: string | null;
  readonly fromCache: boolean;
}

function changed(path: string): TruecastError {
  return new TruecastError(
    "UNREADABLE",
    `${path} changed while it was being exported, so the export would not describe one version of it; let whatever writes it finish, then export again`,
  );
}

async function snapshot(file: SourceFile, real: string, cache: DigestCache | null): Promise<Snapshot> {
  if (file.known !== undefined) return { file, size: file.known.bytes, mtimeMs: 0, id: null, cached: file.known.sha256, fromCache: false };
  let info;
  let id;
  try {
    info = await stat(file.path);
    id = identityOf(real, await stat(file.path, { bigint: true }));
  } catch (e) {
    throw new TruecastError("UNREADABLE", `cannot read ${file.path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  const blob = await cachedBlobSha256(file.path);
  const recorded = blob === null && cache !== null ? await cache.lookup(id) : null;
  return { file, size: info.size, mtimeMs: info.mtimeMs, id, cached: blob ?? recorded, fromCache: recorded !== null };
}

/** The files once each, by real path (an adapter's weights may be a source file too), with that real path. */
async function distinct(files: readonly SourceFile[]): Promise<{ file: SourceFile; real: string }[]> {
  const seen = new Set<string>();
  const out: { file: SourceFile; real: string }[] = [];
  for (const file of files) {
    const real = file.known !== undefined ? file.path : await realpath(file.path).catch(() => file.path);
    if (seen.has(real)) continue;
    seen.add(real);
    out.push({ file, real });
  }
  return out;
}

/**
 * Threads hashing at once: one per core that the export (its main thread, the verifying thread and the file system's
 * threads) leaves idle, at least one, at most four (past that the disk or the memory bus is the limit).
 */
function hashThreads(): number {
  return Math.max(1, Math.min(MAX_HASH_THREADS, availableParallelism() - 2));
}

export interface SourceDigestOptions {
  /** Stops the hashing like cancel(). */
  signal?: AbortSignal;
  /** How many files are hashed at once (default: the cores the export leaves idle, 1–4). */
  threads?: number;
  /** Where digests of unchanged local files are looked up and recorded; none by default. */
  cache?: DigestCache | null;
  /** How a file is hashed (tests count the reads). @default sha256OnWorker */
  hash?: (params: FileSha256Params) => Promise<string>;
  /** The wall clock in ms, for the digest cache's racy rule (tests move it). @default Date.now */
  now?: () => number;
}

/** Starts digesting `files` (in order, on worker threads) and returns at once. */
export function startSourceDigests(files: readonly SourceFile[], opts: SourceDigestOptions = {}): SourceDigests {
  const cache = opts.cache ?? null;
  const hash = opts.hash ?? sha256OnWorker;
  const now = opts.now ?? Date.now;
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let done = 0;
  let total = 0;
  const run = (async (): Promise<{ snaps: Snapshot[]; digests: string[] }> => {
    const snaps: Snapshot[] = [];
    for (const { file, real } of await distinct(files)) snaps.push(await snapshot(file, real, cache));
    total = snaps.reduce((n, s) => n + s.size, 0);
    const digests: string[] = snaps.map((s) => s.cached ?? "");
    const todo = snaps.flatMap((s, i) => (s.cached === null ? [i] : []));
    done = total - todo.reduce((n, i) => n + (snaps[i]?.size ?? 0), 0);
    // Files are taken in order by each of a few threads (shards of one model hash side by side).
    const hashNext = async (): Promise<void> => {
      for (let i = todo.shift(); i !== undefined; i = todo.shift()) {
        const s = snaps[i] as Snapshot;
        let seen = 0;
        const startMs = now();
        const id = s.id as FileIdentity;
        const sha256 = await hash({
          path: s.file.path,
          size: s.size,
          mtimeMs: s.mtimeMs,
          dev: Number(id.dev),
          ino: Number(id.ino),
          signal: stop.signal,
          changed,
          onProgress: (b) => {
            done += b - seen;
            seen = b;
          },
        });
        done += s.size - seen;
        digests[i] = sha256;
        if (cache !== null) {
          const after = await identify(id.realPath).catch(() => null);
          if (after !== null) await cache.record({ before: id, after, sha256, startMs });
        }
      }
    };
    const threads = Array.from({ length: Math.min(todo.length, opts.threads ?? hashThreads()) }, () =>
      hashNext().catch((e: unknown) => {
        stop.abort(e); // the first failure ends the other threads' work too
        throw e;
      }),
    );
    await Promise.all(threads);
    return { snaps, digests };
  })();
  run.catch(() => undefined); // surfaces through result(); a cancelled run is never awaited
  return {
    progress: () => ({ bytes: done, total }),
    async result() {
      try {
        const { snaps, digests } = await run;
        const out: SourceFileDigest[] = [];
        for (const [i, s] of snaps.entries()) {
          if (s.id !== null) {
            // ctime too: a rewrite that put the mtime back still moves it.
            const later = await stat(s.file.path, { bigint: true }).catch(() => null);
            if (later === null || !sameIdentity(s.id, identityOf(s.id.realPath, later))) throw changed(s.file.path);
          }
          out.push({ name: s.file.name, bytes: s.size, sha256: digests[i] ?? "", role: s.file.role, ...(s.fromCache ? { fromCache: true as const } : {}) });
        }
        return out;
      } finally {
        opts.signal?.removeEventListener("abort", onAbort);
      }
    },
    cancel() {
      opts.signal?.removeEventListener("abort", onAbort);
      stop.abort(new TruecastError("INTERNAL", "source hashing cancelled"));
    },
  };
}

/** How often the progress of digests still running is reported while an export waits for them. */
const WAIT_PROGRESS_MS = 200;

/**
 * The digests' result; while they are still running, `onProgress` hears how far they are (at once, then every
 * 200 ms), so that a wait at the end of an export shows as a phase of its own. Nothing is reported when nothing is left.
 */
export async function waitForDigests(digests: SourceDigests, onProgress?: (bytes: number, total: number) => void): Promise<SourceFileDigest[]> {
  const show = () => {
    const p = digests.progress();
    if (p.bytes < p.total) onProgress?.(p.bytes, p.total);
  };
  show();
  const timer = onProgress ? setInterval(show, WAIT_PROGRESS_MS) : null;
  try {
    return await digests.result();
  } finally {
    if (timer) clearInterval(timer);
  }
}
