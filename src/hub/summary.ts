import type { SessionCommit } from "./upload-session.js";
import type { PublishReport } from "./events.js";
import type { RemoteVerification } from "./remote-verify.js";
import type { UploadedFile, UploadSession } from "./upload-session.js";

/**
 * The closing line of a publish: `published acme/model@<commit>: 7 files, 3 shards verified on the Hub, dtype bfloat16`
 * (verified: the Hub's copy has the local file's sha256 and safetensors header; whether the local shards are
 * bit-exact copies of a source is the export's line, not this one).
 */
export function publishSummaryLine(p: {
  repoId: string;
  commit: string;
  files: number;
  shards: number;
  dtype: string | null;
  pr: string | null;
  forced: boolean;
  problems: number;
  /** No commit was made: the revision already held every file. */
  unchanged?: boolean;
}): string {
  if (p.unchanged) {
    return `nothing to publish: ${p.repoId}@${p.commit} already holds these ${p.files} file${p.files === 1 ? "" : "s"} (no commit made), ${p.shards} shard${p.shards === 1 ? "" : "s"} verified on the Hub`;
  }
  let s = `published ${p.repoId}@${p.commit}: ${p.files} file${p.files === 1 ? "" : "s"}, ${p.shards} shard${p.shards === 1 ? "" : "s"} verified on the Hub`;
  if (p.dtype) s += `, dtype ${p.dtype}`;
  if (p.pr) s += `, pull request ${p.pr}`;
  if (p.forced) s += ` (forced past ${p.problems} problem${p.problems === 1 ? "" : "s"} in the folder check)`;
  return s;
}

/** The report of a finished publish (`publish` and `export --push` alike). */
export function buildPublishReport(p: {
  session: UploadSession;
  commit: SessionCommit;
  files: readonly UploadedFile[];
  verified: RemoteVerification;
  /** config.json spelling of the dominant floating dtype, or null. */
  dtype: string | null;
  /** Problems of the folder check published anyway with --force. */
  problems: readonly string[];
  /** Files of the revision the commit deleted. */
  deleted?: readonly string[];
  /** Pickles left beside the new safetensors files. */
  keptPickles?: readonly string[];
}): PublishReport {
  const { session, commit, verified } = p;
  const forced = p.problems.length > 0;
  return {
    repoId: session.repoId,
    endpoint: session.endpoint,
    revision: session.revision,
    commit: { oid: commit.oid, url: commit.url },
    committed: !commit.unchanged,
    pullRequestUrl: commit.pullRequestUrl,
    created: session.created,
    private: session.private,
    files: p.files.map((f) => ({ path: f.pathInRepo, size: f.size, sha256: f.oid, lfs: f.lfs, sent: f.sent })),
    bytesSent: session.bytesSent(),
    shardsBitExact: verified.shardsBitExact,
    dtype: p.dtype,
    forced,
    problems: [...p.problems],
    extraRemoteFiles: verified.extraRemoteFiles,
    deleted: [...(p.deleted ?? [])],
    keptPickles: [...(p.keptPickles ?? [])],
    summary: publishSummaryLine({
      repoId: session.repoId,
      commit: commit.oid,
      files: p.files.length,
      shards: verified.shardsBitExact,
      dtype: p.dtype,
      pr: commit.pullRequestUrl,
      forced,
      problems: p.problems.length,
      unchanged: commit.unchanged,
    }),
  };
}
