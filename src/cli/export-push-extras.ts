/**
 * What `export --push` adds around the export itself: a private temporary folder for the shards in flight when no
 * `<out>` is given, the audit of the source before and of the written files after, the weight files
 * `--replace-weights` deletes, and the commit's description built from all of it (hub/pr-description.ts).
 */
import { lstat, mkdtemp, open, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { auditModel } from "../audit/audit.js";
import { configName } from "../dtype/table.js";
import { TruecastError } from "../errors.js";
import type { ExportReport } from "../export/export.js";
import { hostTag, ownFolder, processAlive } from "../export/stale-staging.js";
import { HEADER_LENGTH_PREFIX, MAX_HEADER_SIZE } from "../formats/safetensors/spec.js";
import type { CommitExtras, ExportPublisher } from "../hub/export-push.js";
import { exportDescription, type AuditSummary } from "../hub/pr-description.js";
import { findStaleWeights } from "../hub/replace-weights.js";
import type { UploadedFile, UploadSession } from "../hub/upload-session.js";
import { openLocalStore } from "../store/local-store.js";
import { atCommit, isHubSpec } from "../store/hub-spec.js";
import { openStore } from "../store/open-store.js";
import type { ModelStore, StoreEntry, StoreFile } from "../store/store.js";
import { truecastVersion } from "../version.js";
import { formatConversion } from "./format.js";
import type { CliIo } from "./io.js";

/**
 * The folder the shards in flight are staged in when `--push` has no `<out>`: a private folder (mode 0700, from
 * mkdtemp) under TMPDIR (else the system's temporary folder). The export stages inside it and deletes each shard once
 * uploaded; {@link PushStaging.remove} removes the folder after success, failure or a signal.
 */
export class PushStaging {
  private constructor(readonly dir: string) {}

  static async create(io: CliIo): Promise<PushStaging> {
    const root = resolve(io.cwd, io.env["TMPDIR"] || tmpdir());
    await removeStalePushStaging(root);
    try {
      return new PushStaging(await mkdtemp(join(root, `truecast-push-${process.pid}-${hostTag()}-`)));
    } catch (e) {
      throw new TruecastError("UNREADABLE", `cannot make a temporary folder for the shards in ${root} (${(e as NodeJS.ErrnoException).code ?? String(e)}); set TMPDIR to a writable folder, or give <out>`, { cause: e });
    }
  }

  /** Where the export's `<out>` points: never created (the export only stages beside it). */
  get out(): string {
    return join(this.dir, "model");
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /** A disk-full error names the temporary folder and what to do (TMPDIR, or an `<out>` elsewhere). */
  explain(e: unknown): unknown {
    if (!(e instanceof TruecastError) || e.code !== "NO_SPACE") return e;
    return new TruecastError("NO_SPACE", `${e.message} (the shards in flight are staged under TMPDIR: set TMPDIR to a folder with room, or give <out>)`, { cause: e });
  }
}

/** `truecast-push-<pid>-<host tag>-<mkdtemp suffix>`: a run's temporary folder (see stale-staging.ts for the tag). */
const PUSH_STAGING_NAME = /^truecast-push-(\d{1,10})-([0-9a-f]{8})-[A-Za-z0-9]{6}$/;

/**
 * Remove the temporary folders that runs killed outright (SIGKILL, a second Ctrl-C) left in `root`: only real folders
 * of this user made on this machine by a process that is gone. Best effort: one that cannot be removed stays.
 */
async function removeStalePushStaging(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    const m = PUSH_STAGING_NAME.exec(name);
    if (!m || m[2] !== hostTag() || processAlive(Number(m[1]))) continue;
    const path = join(root, name);
    const info = await lstat(path).catch(() => null);
    if (info && ownFolder(info)) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The audit's verdict and findings, or why there is none. */
async function summarize(store: ModelStore): Promise<AuditSummary> {
  const r = await auditModel({ store });
  return { verdict: r.verdict.text, findings: r.findings };
}

/**
 * The audit of the source (headers, config, indexes, pickles, card; no values) for the description. A single file is
 * not audited (audit reads model folders); a source that cannot be audited is said so, it does not stop the export.
 * A Hub source is read at `commit`, the one the export pinned (its branch may have moved since).
 */
export async function auditSource(source: string, io: CliIo, commit?: string): Promise<AuditSummary> {
  let store: ModelStore | null = null;
  try {
    if (isHubSpec(source)) {
      store = await openStore(commit === undefined ? source : atCommit(source, commit), { env: io.env, ...(io.fetch && { fetch: io.fetch }) });
    } else {
      const path = resolve(io.cwd, source);
      if (!(await stat(path)).isDirectory()) return { skipped: "Not audited: the source is a single checkpoint file (audit reads model folders)." };
      store = await openLocalStore(path);
    }
    return await summarize(store);
  } catch (e) {
    return { skipped: `Not audited: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    await store?.close().catch(() => undefined);
  }
}

/** The first 8 + N bytes of a safetensors file (its length prefix and header). */
async function headerBytes(path: string): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const prefix = Buffer.alloc(HEADER_LENGTH_PREFIX);
    await fh.read(prefix, 0, HEADER_LENGTH_PREFIX, 0);
    const n = Number(prefix.readBigUInt64LE(0));
    if (!(n <= MAX_HEADER_SIZE)) throw new TruecastError("INTERNAL", `${path}: header length ${n} of a shard the export wrote`);
    const out = Buffer.alloc(HEADER_LENGTH_PREFIX + n);
    prefix.copy(out);
    await fh.read(out, HEADER_LENGTH_PREFIX, n, HEADER_LENGTH_PREFIX);
    return out;
  } finally {
    await fh.close();
  }
}

/** A shard kept as its header alone: reads past the header fail (the headers-only audit never makes them). */
function headerOnlyFile(path: string, size: number, head: Uint8Array): StoreFile {
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset + length > head.byteLength) throw new TruecastError("INTERNAL", `${path}: only its header was kept after the upload`);
    return head.slice(offset, offset + length);
  };
  return {
    path, size, read,
    chunks: async function* (start, length) {
      yield await read(start, length);
    },
    close: async () => undefined,
  };
}

/**
 * The written output as a store for the audit after: the staging folder's files, and each shard (deleted locally
 * once uploaded) by its size and header bytes.
 */
function writtenStore(local: ModelStore, shards: ReadonlyMap<string, { size: number; head: Uint8Array }>, label: string): ModelStore {
  return {
    label,
    remote: true,
    async list() {
      const listed: StoreEntry[] = (await local.list()).filter((e) => !shards.has(e.path));
      for (const [path, s] of shards) listed.push({ path, size: s.size });
      return listed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
    async open(path) {
      const s = shards.get(path);
      return s ? headerOnlyFile(path, s.size, s.head) : local.open(path);
    },
    stats: () => local.stats(),
    close: () => local.close(),
  };
}

/**
 * Wrap the export's publisher: each shard's header is kept (a few KB to MB) before the shard is uploaded and deleted,
 * and right before the commit the revision is listed for stale weight files (deleted with `replaceWeights`), the
 * written files are audited, and the description is built.
 */
export function withCommitExtras(
  make: (beforeCommit: (dir: string, exported: ExportReport, files: readonly UploadedFile[]) => Promise<CommitExtras>) => ExportPublisher,
  params: { session: UploadSession; replaceWeights: boolean; before: Promise<AuditSummary> },
): ExportPublisher {
  const { session } = params;
  const shards = new Map<string, { size: number; head: Uint8Array }>();
  const inner = make(async (dir, exported, files) => {
    let stale;
    try {
      stale = await findStaleWeights(session.target, session.revision, new Set(files.map((f) => f.pathInRepo)));
    } catch (e) {
      throw session.fail(e, `listing the files of ${session.repoId}@${session.revision}`);
    }
    const local = await openLocalStore(dir);
    const after = await summarize(writtenStore(local, shards, `${session.repoId} (files written)`)).catch((e: unknown) => ({ skipped: `Not audited: ${e instanceof Error ? e.message : String(e)}` }));
    await local.close();
    const deleted = params.replaceWeights ? stale.stale : [];
    const keptPickles = params.replaceWeights ? [] : stale.pickles;
    const description = exportDescription({
      source: exported.provenance.source.name,
      sourceKind: exported.source.kind,
      tensorCount: exported.tensorCount,
      bitExact: exported.bitExact,
      computed: exported.computed,
      dtype: exported.dtype ? configName(exported.dtype) : null,
      conversions: exported.conversions.map(formatConversion),
      sourceFiles: exported.sourceFiles,
      written: files.map((f) => ({ path: f.pathInRepo, size: f.size, sha256: f.oid })),
      deleted,
      keptPickles,
      before: await params.before,
      after,
      version: truecastVersion(),
    });
    return { description, deleted, keptPickles };
  });
  return {
    ...inner,
    async shard(path, fileName, record, hashed) {
      shards.set(fileName, { size: (await stat(path)).size, head: await headerBytes(path) });
      return inner.shard(path, fileName, record, hashed);
    },
    // A shard an interrupted run already put on the Hub is never written here: its header is the plan's.
    reuse(shard) {
      shards.set(shard.fileName, { size: shard.fileSize, head: shard.header });
      inner.reuse?.(shard);
    },
    result: () => inner.result(),
  };
}
