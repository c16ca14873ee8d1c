/**
 * The digest cache: the SHA-256 of a local source file, kept after an export read it whole, so that the next export
 * (or a resumed one) of the same unchanged file states its digest without reading it again (~0.7 s of one core per GB,
 * plus the read: a quarter of a bit-exact export's CPU).
 *
 * An entry is keyed by the file's real path and holds what proves the file unchanged since it was hashed: device,
 * inode, size, modification time and change time, both in nanoseconds. A write moves mtime; restoring mtime
 * afterwards (`touch -d`, `cp -p`, `rsync -t`) moves ctime, which no user can set. An entry is used only when all five
 * equal the file's now.
 *
 * Racily clean files (git's rule) are not recorded: when the file's mtime or ctime is later than {@link RACY_MS} before
 * the hash's start, a write in the same timestamp tick (coarse file systems count in seconds) could follow the hash
 * unseen. That includes times after the hash ended: a file system whose clock runs ahead of this machine's (a file
 * server) stamps a file written just now with a time in our future, and a rewrite in that tick goes as unseen.
 * Neither is a file whose identity changed while it was hashed recorded.
 *
 * Where: `<truecast cache>/digests/<sha256 of the real path>.json` (util/truecast-cache.ts), one small file per
 * source file, written 0600 in a 0700 folder by a temp file and a rename, so concurrent runs never see half an entry
 * and the last writer wins. An entry is the user's own file: one that is a link, belongs to another user or is
 * writable by others, is larger than {@link MAX_ENTRY_BYTES}, does not parse, fails its checksum or describes
 * another file is ignored (the file is hashed again and the entry replaced). At most {@link MAX_ENTRIES} entries
 * are kept; past that the oldest written go.
 */
import { createHash } from "node:crypto";
import { constants, type BigIntStats } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { truecastCacheDir, untrustedCacheFile } from "../util/truecast-cache.js";

/** The format of an entry; another value is not an entry of this truecast. */
const FORMAT = "truecast-digest-1";
/** An entry is a path (at most a few KB) and a few numbers: anything larger is not one truecast wrote. */
const MAX_ENTRY_BYTES = 64 * 1024;
/** Entries kept: hundreds of models' shards, under ~2 MB in all. */
export const MAX_ENTRIES = 4096;
/** How close to a hash's start or end an mtime or ctime makes a file racy (timestamps may be 1 s coarse, or 2 s on FAT). */
export const RACY_MS = 2000;
const SHA256 = /^[0-9a-f]{64}$/;
const DECIMAL = /^[0-9]{1,30}$/;

/** What proves a file unchanged: its real path and its stat fields, exactly (nanoseconds, 64-bit inode). */
export interface FileIdentity {
  readonly realPath: string;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export function identityOf(realPath: string, st: BigIntStats): FileIdentity {
  return { realPath, dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

/** The identity of the file at `realPath` now (stat follows a link, as a read does). */
export async function identify(realPath: string): Promise<FileIdentity> {
  return identityOf(realPath, await stat(realPath, { bigint: true }));
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.realPath === b.realPath && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * Is a file with this identity racily clean for a hash that began at `startMs` (wall clock)? Then a write could have
 * followed the hash within the same timestamp, and the digest must not be kept. A time after the hash is racy too
 * (not only one within the margin after it): it is a clock ahead of ours, whose "now" we cannot tell.
 */
export function isRacy(id: FileIdentity, startMs: number): boolean {
  const from = BigInt(Math.floor(startMs - RACY_MS)) * 1_000_000n;
  return [id.mtimeNs, id.ctimeNs].some((t) => t >= from);
}

interface Entry {
  format: string;
  path: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  sha256: string;
  check: string;
}

function fields(id: FileIdentity, sha256: string): Omit<Entry, "check"> {
  return { format: FORMAT, path: id.realPath, dev: String(id.dev), ino: String(id.ino), size: String(id.size), mtimeNs: String(id.mtimeNs), ctimeNs: String(id.ctimeNs), sha256 };
}

/** A checksum over the fields: a torn or edited entry fails it (it is no proof against a forger, whom the folder's owner check stops). */
function checksum(f: Omit<Entry, "check">): string {
  return createHash("sha256").update(JSON.stringify([f.format, f.path, f.dev, f.ino, f.size, f.mtimeNs, f.ctimeNs, f.sha256])).digest("hex");
}

/** The digest an entry's text gives for `id`, or null when it is no good entry or describes another file or version. */
function digestFrom(text: string, id: FileIdentity): string | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (v === null || typeof v !== "object") return null;
  const o = v as Partial<Record<keyof Entry, unknown>>;
  if (o.format !== FORMAT || typeof o.sha256 !== "string" || !SHA256.test(o.sha256) || typeof o.check !== "string") return null;
  for (const k of ["dev", "ino", "size", "mtimeNs", "ctimeNs"] as const) {
    const x = o[k];
    if (typeof x !== "string" || !DECIMAL.test(x)) return null;
  }
  const want = fields(id, o.sha256);
  if (o.path !== want.path || o.dev !== want.dev || o.ino !== want.ino || o.size !== want.size || o.mtimeNs !== want.mtimeNs || o.ctimeNs !== want.ctimeNs) return null;
  return o.check === checksum(want) ? o.sha256 : null;
}

/** The digest cache in one folder. Every method is best effort: a cache that cannot be read or written is a cache miss. */
export class DigestCache {
  /** The cache of `env` (TRUECAST_CACHE, XDG_CACHE_HOME, home): `<cache>/digests`. */
  static fromEnv(env: NodeJS.ProcessEnv): DigestCache {
    return new DigestCache(join(truecastCacheDir(env), "digests"));
  }

  /** `maxEntries`: how many files the folder keeps (default {@link MAX_ENTRIES}; tests use fewer). */
  constructor(
    readonly dir: string,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  /** Where the entry of the file at `realPath` is (for tests). */
  entryPath(realPath: string): string {
    return join(this.dir, `${createHash("sha256").update(realPath).digest("hex")}.json`);
  }

  /** Is the folder one this user made and no one else can write (never through a link)? */
  private async trusted(): Promise<boolean> {
    const st = await lstat(this.dir).catch(() => null);
    return st !== null && st.isDirectory() && untrustedCacheFile(st) === null;
  }

  /** The SHA-256 recorded for the file with exactly this identity, or null. */
  async lookup(id: FileIdentity): Promise<string | null> {
    try {
      if (!(await this.trusted())) return null;
      const fh = await open(this.entryPath(id.realPath), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
      try {
        const st = await fh.stat();
        if (!st.isFile() || untrustedCacheFile(st) !== null || st.size > MAX_ENTRY_BYTES) return null;
        return digestFrom(await fh.readFile("utf8"), id);
      } finally {
        await fh.close();
      }
    } catch {
      return null;
    }
  }

  /**
   * Records `sha256` for the file whose hash began at `startMs` with identity `before` (taken before the hash),
   * when `after` (taken after it) is the same and the file is not racy (see {@link isRacy}). Returns whether it was
   * recorded; never throws.
   */
  async record(p: { before: FileIdentity; after: FileIdentity; sha256: string; startMs: number }): Promise<boolean> {
    if (!sameIdentity(p.before, p.after) || isRacy(p.after, p.startMs) || !SHA256.test(p.sha256)) return false;
    const f = fields(p.after, p.sha256);
    const body = JSON.stringify({ ...f, check: checksum(f) });
    const target = this.entryPath(p.after.realPath);
    const temp = join(this.dir, `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      if (!(await this.trusted())) return false;
      // No fsync: an entry torn by a crash fails its checksum and costs one hash.
      const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
      try {
        await fh.writeFile(body);
      } finally {
        await fh.close();
      }
      await rename(temp, target);
    } catch {
      await rm(temp, { force: true }).catch(() => undefined);
      return false;
    }
    await this.prune().catch(() => undefined);
    return true;
  }

  /** Keeps at most `maxEntries` files in the folder (temp files of crashed runs count too): the oldest written go first. */
  private async prune(): Promise<void> {
    const names = await readdir(this.dir);
    if (names.length <= this.maxEntries) return;
    const aged = await Promise.all(names.map(async (n) => ({ n, t: (await lstat(join(this.dir, n)).catch(() => null))?.mtimeMs ?? 0 })));
    aged.sort((a, b) => a.t - b.t);
    for (const { n } of aged.slice(0, names.length - this.maxEntries)) await rm(join(this.dir, n), { force: true }).catch(() => undefined);
  }
}
