/**
 * `truecast export ... --push <repo>`: a ShardPublisher that uploads each shard to LFS storage as soon as the
 * export has written and verified it (the export then deletes it locally unless --keep-local), and at the end
 * uploads the small files, commits everything in one commit, and verifies the remote copy.
 *
 * Each shard uploaded is recorded in the resume journal (resume-journal.ts). A new run of the same export after an
 * interrupted one takes the shards the journal names with this run's fingerprint and the Hub still stores: the
 * export skips them, and the commit names them by sha256 and size (the remote verification reads their headers
 * from the Hub like any other shard's). The journal is removed once the commit has landed.
 */
import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import { configName } from "../dtype/table.js";
import { TruecastError } from "../errors.js";
import type { ExportReport, HashedShard, ShardPublisher } from "../export/export.js";
import type { PlannedShard } from "../export/plan.js";
import { parseHeader } from "../formats/safetensors/header.js";
import { readSafetensorsHeader } from "../formats/safetensors/read.js";
import { HEADER_LENGTH_PREFIX, type SafetensorsHeader } from "../formats/safetensors/spec.js";
import type { PublishReport } from "./events.js";
import type { EarlyHash } from "./early-hash.js";
import { describeChange, fileChanged, identityOf, sameIdentity } from "./file-identity.js";
import { listFolderFiles } from "./folder-files.js";
import { dropJournal, journalDir, readJournal, recordShard } from "./resume-journal.js";
import { cacheInside } from "../util/truecast-cache.js";
import { buildPublishReport } from "./summary.js";
import { verifyRemote } from "./remote-verify.js";
import { abandonAfter, type UploadedFile, type UploadSession } from "./upload-session.js";

export interface ExportPublisher extends ShardPublisher {
  /** The publish report, once `finish` has run. */
  result(): PublishReport | null;
  /**
   * After a failed run: undo the repository this run created, unless a re-run can resume from the shards it already
   * holds (see {@link abandonPush}); returns the error to report.
   */
  abandon(e: unknown, opts: { interrupted: boolean }): Promise<unknown>;
}

/** Failures a plain re-run can get past (the network, the Hub's side, an interruption), as opposed to refusals. */
const TRANSIENT = new Set(["HUB_NETWORK", "HUB_SERVER", "HUB_RATE_LIMITED"]);

/** The header of a planned shard, as the file written from the plan holds it. */
function plannedHeader(shard: PlannedShard): SafetensorsHeader {
  const bytes = shard.header;
  return parseHeader({ prefix: bytes.subarray(0, HEADER_LENGTH_PREFIX), headerBytes: bytes.subarray(HEADER_LENGTH_PREFIX), fileSize: shard.fileSize, file: shard.fileName });
}

/**
 * With the SHA-256 the export took while verifying the shard (export.ts `HashedShard`): require the file it hashed,
 * unchanged (device, inode, size, mtime, and ctime, which restoring an mtime changes too), or refuse it.
 */
function checkHashed(path: string, st: Stats, hashed: HashedShard | undefined): void {
  if (!hashed) return;
  const f = hashed.file;
  if (sameIdentity(st, f) && st.ctimeMs === f.ctimeMs) return;
  throw fileChanged(path, sameIdentity(st, f) ? "its status changed after it was hashed" : describeChange(st, f));
}

/** A sha256 already known, given to the upload in place of its own hash of the file. */
function knownHash(sha256: string, size: number): EarlyHash {
  return { oid: Promise.resolve(sha256), bytes: size, onProgress: () => undefined };
}

/** What goes into the commit besides the files: its description and the revision's files it deletes. */
export interface CommitExtras {
  description?: string;
  deleted?: readonly string[];
  /** Pickles of the revision left in place (named in the report: `--replace-weights` would delete them). */
  keptPickles?: readonly string[];
}

/** The ShardPublisher of `export --push`: each verified shard is uploaded at once, the commit is made at the end. */
export function createExportPublisher(params: {
  session: UploadSession;
  keepLocal: boolean;
  commitMessage?: string;
  /** Called after the last upload, right before the commit (see replace-weights.ts, pr-description.ts). */
  beforeCommit?: (dir: string, exported: ExportReport, files: readonly UploadedFile[]) => Promise<CommitExtras>;
  /** Where the resume journal lives (TRUECAST_CACHE, XDG_CACHE_HOME). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** A warning line (a journal entry that does not read); default: none shown. */
  warn?: (line: string) => void;
}): ExportPublisher {
  const { session } = params;
  const uploaded = new Map<string, UploadedFile>();
  const headers = new Map<string, SafetensorsHeader>();
  const journal = journalDir(params.env ?? process.env, { endpoint: session.endpoint, repoId: session.repoId, revision: session.revision, createPr: session.createPr });
  let fingerprint: string | null = null;
  /** Shards the journal names for this run and the Hub stores (offered to the export by `resume`). */
  const offered = new Map<string, { oid: string; size: number }>();
  /** Shards of this export the Hub holds for a re-run: recorded by this run, or taken from an earlier one. */
  let held = 0;
  let reused = 0;
  let planned = 0;
  let report: PublishReport | null = null;
  return {
    keepLocal: params.keepLocal,
    async resume(run) {
      // A journal inside the output folder would make the export's final rename fail: that run keeps none.
      if (await cacheInside(params.env ?? process.env, run.out)) return new Map();
      fingerprint = run.fingerprint;
      planned = run.plan.shards.length;
      const tensors = new Map(run.plan.shards.map((s) => [s.fileName, s.table.count]));
      const entries = await readJournal(journal, run.fingerprint, params.warn ?? (() => undefined), tensors);
      const out = new Map<string, unknown>();
      if (params.keepLocal || entries.size === 0) return out;
      const candidates = run.plan.shards.flatMap((s) => {
        const e = entries.get(s.fileName);
        return e && e.size === s.fileSize ? [{ pathInRepo: s.fileName, oid: e.sha256, size: e.size, record: e.record }] : [];
      });
      // Only what the Hub says it stores now: an entry is a claim about the past, not proof.
      const stored = await session.stored(candidates);
      for (const c of candidates) {
        if (!stored.has(c.oid)) continue;
        offered.set(c.pathInRepo, { oid: c.oid, size: c.size });
        out.set(c.pathInRepo, c.record);
      }
      return out;
    },
    reuse(shard) {
      const o = offered.get(shard.fileName);
      if (!o) throw new TruecastError("INTERNAL", `${shard.fileName} was not offered for reuse`);
      // No local file: the commit names the object by sha256 and size, and the remote verification reads its header.
      uploaded.set(shard.fileName, { localPath: "", pathInRepo: shard.fileName, size: o.size, oid: o.oid, lfs: true, sent: false, identity: { dev: 0, ino: 0, size: o.size, mtimeMs: 0 } });
      headers.set(shard.fileName, plannedHeader(shard));
      reused++;
      held++;
    },
    async shard(path, fileName, record, hashed) {
      // The shard as the export wrote and verified it: the upload reads only this file (not one put in its place).
      const own = await lstat(path);
      if (!own.isFile()) throw fileChanged(path, "it is no longer the regular file the export wrote");
      checkHashed(path, own, hashed);
      headers.set(fileName, await readSafetensorsHeader(path));
      let file: UploadedFile;
      try {
        file = await session.uploadFile(path, fileName, { expect: identityOf(own), ...(hashed && { earlyHash: knownHash(hashed.sha256, own.size) }) });
      } catch (e) {
        throw session.fail(e, `uploading ${fileName}`);
      }
      // Unchanged until the last byte was sent too: what was sent is what was hashed.
      checkHashed(path, await lstat(path), hashed);
      uploaded.set(fileName, file);
      if (fingerprint !== null && record !== undefined && file.lfs) {
        try {
          await recordShard(journal, fingerprint, { file: fileName, size: file.size, sha256: file.oid, record });
          held++;
        } catch (e) {
          // The journal only saves a re-run work: a cache that cannot be written costs that, not this run.
          params.warn?.(`cannot write the resume journal in ${journal} (${(e as NodeJS.ErrnoException).code ?? String(e)}); a re-run after a failure produces ${fileName} again`);
        }
      }
    },
    async finish(dir: string, exported: ExportReport) {
      for (const f of await listFolderFiles(dir)) {
        if (uploaded.has(f.pathInRepo)) continue;
        if (f.pathInRepo.endsWith(".safetensors")) headers.set(f.pathInRepo, await readSafetensorsHeader(f.localPath));
        try {
          uploaded.set(f.pathInRepo, await session.uploadFile(f.localPath, f.pathInRepo, { expect: f.identity }));
        } catch (e) {
          throw session.fail(e, `uploading ${f.pathInRepo}`);
        }
      }
      const files = [...uploaded.values()];
      const extras = (await params.beforeCommit?.(dir, exported, files)) ?? {};
      const commit = await session.commit(files, {
        summary: params.commitMessage ?? `Upload ${session.repoId.split("/").pop() ?? "model"} with truecast`,
        ...(extras.description !== undefined ? { description: extras.description } : {}),
        ...(extras.deleted ? { deleted: extras.deleted } : {}),
      });
      // The commit holds every shard now: nothing is left to resume.
      await dropJournal(journal);
      let verified;
      try {
        verified = await verifyRemote({ target: session.target, commit: commit.oid, files, headers });
      } catch (e) {
        throw session.fail(e, `verifying ${session.repoId}@${commit.oid}`);
      }
      report = buildPublishReport({ session, commit, files, verified, dtype: exported.dtype ? configName(exported.dtype) : null, problems: [], deleted: extras.deleted ?? [], keptPickles: extras.keptPickles ?? [] });
      if (reused > 0) report = { ...report, resumed: { shards: reused, of: planned } };
    },
    result: () => report,
    async abandon(e, opts) {
      const code = (e as { code?: unknown } | null)?.code;
      const resumable = held > 0 && (opts.interrupted || (typeof code === "string" && TRANSIENT.has(code)));
      const keep = resumable ? `${held} shard${held === 1 ? " is" : "s are"} uploaded and a re-run of the same command resumes from ${held === 1 ? "it" : "them"}; delete the repo on the Hub if you will not run it again` : undefined;
      const created = session.created;
      const out = await abandonAfter(session, e, keep !== undefined ? { keep } : {});
      // A repo deleted again takes its objects with it: its journal has nothing left to resume from.
      if (created && !session.created) await dropJournal(journal).catch(() => undefined);
      return out;
    },
  };
}
