/**
 * The one commit of a publish: the Hub's ndjson commit call (`header`, then `lfsFile` lines for uploaded objects and
 * base64 `file` lines for small files, streamed from the files by commit-body.ts), with the parent commit so that
 * nothing lands on a branch that moved.
 * When the connection drops after the Hub applied the commit, the retry gets 412 (the branch moved: by our own
 * commit); the branch head is then taken as the result and remote verification decides whether it is ours.
 */
import { TruecastError } from "../errors.js";
import { CommitBody } from "./commit-body.js";
import type { FileIdentity } from "./file-identity.js";
import type { HubFetchHooks } from "./hub-fetch.js";
import { answerUrl, readJsonObject } from "./hub-json.js";
import { apiError, revisionCommit, type HubTarget } from "./repo-setup.js";

export interface CommitFileLine {
  localPath: string;
  pathInRepo: string;
  size: number;
  /** sha256 of the bytes. */
  oid: string;
  /** Uploaded to LFS (a `lfsFile` line); else the bytes go base64-encoded inside the commit. */
  lfs: boolean;
  /** The file as listed and hashed: a small file's bytes are read for the commit only from that file. */
  identity?: FileIdentity;
}

export interface CommitResult {
  oid: string;
  url: string;
  pullRequestUrl: string | null;
  /** True when the answer was lost and the commit was found on the branch after a retry. */
  recovered: boolean;
}

export async function postCommit(params: {
  target: HubTarget;
  makeFetch: (hooks?: HubFetchHooks) => typeof fetch;
  revision: string;
  createPr: boolean;
  parent: string | null;
  files: readonly CommitFileLine[];
  summary: string;
  description?: string;
  /** Paths of the revision this commit deletes. */
  deleted?: readonly string[];
}): Promise<CommitResult> {
  const { target, revision } = params;
  let retried = false;
  const f = params.makeFetch({ onRetry: () => (retried = true) });
  const url = `${target.endpoint}/api/models/${target.repo.full}/commit/${encodeURIComponent(revision)}${params.createPr ? "?create_pr=1" : ""}`;
  const header = { summary: params.summary, description: params.description ?? "", ...(params.parent && { parentCommit: params.parent }) };
  const body = new CommitBody(header, params.files, params.deleted ?? []);
  const res = await f(url, { method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body });
  if (res.status === 412 && retried && !params.createPr) {
    await res.body?.cancel();
    const head = await revisionCommit(target, revision);
    if (head) return { oid: head.sha, url: `${target.endpoint}/${target.repo.full}/commit/${head.sha}`, pullRequestUrl: null, recovered: true };
  }
  if (!res.ok) throw await apiError(res);
  const json = await readJsonObject(res, url);
  if (typeof json.commitOid !== "string" || !/^[0-9a-f]{40}$/.test(json.commitOid)) {
    throw new TruecastError("HUB_SERVER", `the Hub's answer to the commit on ${target.repo.full} (${answerUrl(res, url)}) has no commit id`);
  }
  return {
    oid: json.commitOid,
    url: typeof json.commitUrl === "string" ? json.commitUrl : `${target.endpoint}/${target.repo.full}/commit/${json.commitOid}`,
    pullRequestUrl: typeof json.pullRequestUrl === "string" ? json.pullRequestUrl : null,
    recovered: false,
  };
}
