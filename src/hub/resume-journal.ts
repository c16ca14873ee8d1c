/**
 * The resume journal of `export --push`: one small file per shard whose LFS object is on the Hub, so that a new run
 * after an interrupted one (Ctrl-C, a crash, the network gone for minutes) neither reads that shard's tensors from
 * the source again nor writes nor uploads it.
 *
 * Where: `$TRUECAST_CACHE`, else `$XDG_CACHE_HOME/truecast`, else `~/.cache/truecast`, then
 * `resume/<sha256 of endpoint, repo, revision and PR mode>/<shard file name>.json`. Each entry is written once, after
 * its shard was written, verified and uploaded, atomically (a temp file beside it, then a rename), and holds the
 * shard's size and sha256 (its LFS oid), the fingerprint of the run that made it (export/resume-fingerprint.ts),
 * the export's record of its tensors (export/shard-record.ts) and a sha256 over all of that.
 *
 * Never trusted blindly: an entry is taken only when it is a file this user wrote, in a folder of this user, neither
 * writable by others nor reached through a symbolic link (entries are written 0600 in 0700 folders), its checksum holds, its fingerprint is this run's exactly, its
 * size is the planned shard's, and the Hub answers that it stores the object with that size (the caller asks).
 * An entry that does not read (damaged, truncated, another format) is ignored with a warning. The folder is removed
 * after a successful commit.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { truecastCacheDir, untrustedCacheFile as untrusted } from "../util/truecast-cache.js";

export { truecastCacheDir };

/** The format of an entry; another value is read as "not an entry of this truecast". */
const FORMAT = "truecast-resume-1";
/** An entry larger than this is not one truecast wrote (a million tensors' digests and loss reports fit easily). */
const MAX_ENTRY_BYTES = 512 * 1024 * 1024;
/**
 * Bytes an entry may take per tensor of its shard: a digest (at most ~170 characters) and a loss report (~250), with
 * room to spare; plus {@link ENTRY_BASE_BYTES} for the rest. An entry past its shard's budget is not read.
 */
export const ENTRY_BYTES_PER_TENSOR = 1024;
export const ENTRY_BASE_BYTES = 64 * 1024;
const SHA256 = /^[0-9a-f]{64}$/;

export interface JournalEntry {
  /** The shard's file name in the repo. */
  readonly file: string;
  readonly size: number;
  /** sha256 of the shard's bytes: its LFS oid. */
  readonly sha256: string;
  /** The export's record of the shard's tensors (checked by the export when read back). */
  readonly record: unknown;
}

export interface JournalTarget {
  endpoint: string;
  repoId: string;
  revision: string;
  createPr: boolean;
}

/** The journal folder of one target: endpoint, repo, and the branch committed to, or the PR opened against it. */
export function journalDir(env: NodeJS.ProcessEnv, t: JournalTarget): string {
  const key = createHash("sha256").update(JSON.stringify([t.endpoint, t.repoId, t.createPr ? "pr" : "branch", t.revision])).digest("hex");
  return join(truecastCacheDir(env), "resume", key);
}

function checksum(fingerprint: string, e: JournalEntry): string {
  return createHash("sha256").update(JSON.stringify([FORMAT, fingerprint, e.file, e.size, e.sha256, e.record])).digest("hex");
}

/** Why `text` is not a good entry, or the entry and its fingerprint. */
function parseEntry(text: string): { entry: JournalEntry; fingerprint: string } | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "it is not JSON (damaged or cut short)";
  }
  const o = v as { format?: unknown; fingerprint?: unknown; file?: unknown; size?: unknown; sha256?: unknown; record?: unknown; check?: unknown } | null;
  if (o === null || typeof o !== "object" || o.format !== FORMAT) return "it is not a truecast resume entry";
  if (typeof o.fingerprint !== "string" || typeof o.file !== "string" || typeof o.sha256 !== "string" || !SHA256.test(o.sha256)) return "its fields are missing or malformed";
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) return "its size is malformed";
  const entry: JournalEntry = { file: o.file, size: o.size, sha256: o.sha256, record: o.record };
  if (o.check !== checksum(o.fingerprint, entry)) return "its checksum does not match its content (damaged)";
  return { entry, fingerprint: o.fingerprint };
}

/**
 * The entries of `dir` made by a run with `fingerprint`, by shard file name. Entries of another fingerprint are
 * left out silently (another source, other options: not this export); entries that do not read are left out with
 * a line to `warn`. A missing folder is an empty journal. `tensors`, when given, names the shards the run plans with
 * their tensor counts: an entry of another shard is not read, and one past its shard's budget
 * ({@link ENTRY_BYTES_PER_TENSOR}) is refused unread, so memory stays proportional to the plan.
 */
export async function readJournal(dir: string, fingerprint: string, warn: (line: string) => void, tensors?: ReadonlyMap<string, number>): Promise<Map<string, JournalEntry>> {
  const out = new Map<string, JournalEntry>();
  let names: string[];
  try {
    const own = await lstat(dir);
    const why = own.isSymbolicLink() ? "it is a symbolic link, not a folder truecast made" : untrusted(own);
    if (why !== null) {
      warn(`ignoring the resume journal ${dir}: ${why}; every shard is produced again`);
      return out;
    }
    names = (await readdir(dir)).filter((n) => n.endsWith(".json") && !n.startsWith(".") && (tensors === undefined || tensors.has(n.slice(0, -5)))).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return out;
    warn(`cannot read the resume journal ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)}); every shard is produced again`);
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    let parsed: ReturnType<typeof parseEntry>;
    try {
      // Never through a link: an entry is a file this user wrote here, in a folder only this user can write.
      const fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
      try {
        const st = await fh.stat();
        const why = untrusted(st);
        const count = tensors?.get(name.slice(0, -5));
        const max = count === undefined ? MAX_ENTRY_BYTES : Math.min(MAX_ENTRY_BYTES, ENTRY_BASE_BYTES + count * ENTRY_BYTES_PER_TENSOR);
        const what = count === undefined ? "an entry" : `the entry of a shard of ${count} tensor${count === 1 ? "" : "s"}`;
        parsed = why ?? (st.size > max ? `it is ${st.size} bytes, more than ${what} can be` : parseEntry(await fh.readFile("utf8")));
      } finally {
        await fh.close();
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      parsed = code === "ELOOP" ? "it is a symbolic link, not an entry truecast wrote" : `it cannot be read (${code ?? String(e)})`;
    }
    if (typeof parsed === "string") {
      warn(`ignoring the resume journal entry ${path}: ${parsed}; that shard is produced again`);
      continue;
    }
    if (parsed.fingerprint !== fingerprint || `${parsed.entry.file}.json` !== name) continue;
    out.set(parsed.entry.file, parsed.entry);
  }
  return out;
}

/** Records a shard on the Hub, atomically: a temp file in the folder, then a rename over the entry. */
export async function recordShard(dir: string, fingerprint: string, entry: JournalEntry): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const body = JSON.stringify({ format: FORMAT, fingerprint, file: entry.file, size: entry.size, sha256: entry.sha256, record: entry.record, check: checksum(fingerprint, entry) });
  const temp = join(dir, `.${entry.file}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    const fh = await open(temp, "wx", 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, join(dir, `${entry.file}.json`));
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/** Removes the journal of a target (after its commit landed, or once its repo is gone). */
export async function dropJournal(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Where the entry of shard `file` is (for messages and tests). */
export function entryPath(dir: string, file: string): string {
  return join(dir, `${file}.json`);
}
