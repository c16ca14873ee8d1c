/**
 * The one commit of a publish: the Hub's ndjson commit call (`header`, then `lfsFile` lines for uploaded objects and
 * base64 `file` lines for small files), with the parent commit so that nothing lands on a branch that moved.
 * When the connection drops after the Hub applied the commit, the retry gets 412 (the branch moved: by our own
 * commit); the branch head is then taken as the result and remote verification decides whether it is ours.
 */
import { readFile } from "node:fs/promises";
import { TruecastError } from "../errors.js";
import type { HubFetchHooks } from "./hub-fetch.js";
import { apiError, revisionCommit, type HubTarget } from "./repo-setup.js";

export interface CommitFileLine {
  localPath: string;
  pathInRepo: string;
  size: number;
  oid: string;
  lfs: boolean;
}

export interface CommitResult {
  oid: string;
  url: string;
  pullRequestUrl: string | null;
  /** True when the answer was lost and the commit was found on the branch after a retry. */
  recovered: boolean;
}

/** Small files go base64-encoded inside the commit; the Hub sends anything larger to LFS at preupload. */
const MAX_INLINE_FILE_BYTES = 50 * 1024 * 1024;

async function lines(params: { files: readonly CommitFileLine[]; summary: string; description?: string; parent: string | null }): Promise<string> {
  const out: string[] = [
    JSON.stringify({ key: "header", value: { summary: params.summary, description: params.description ?? "", ...(params.parent && { parentCommit: params.parent }) } }),
  ];
  for (const f of params.files) {
    if (f.lfs) {
      out.push(JSON.stringify({ key: "lfsFile", value: { path: f.pathInRepo, algo: "sha256", size: f.size, oid: f.oid } }));
      continue;
    }
    if (f.size > MAX_INLINE_FILE_BYTES) throw new TruecastError("INTERNAL", `${f.pathInRepo} is too large to commit inline; it should have gone to LFS`);
    const bytes = await readFile(f.localPath);
    if (bytes.length !== f.size) throw new TruecastError("VERIFY_FAILED", `${f.localPath} changed size during the publish (${f.size} → ${bytes.length} bytes); run again`);
    out.push(JSON.stringify({ key: "file", value: { path: f.pathInRepo, content: bytes.toString("base64"), encoding: "base64" } }));
  }
  return out.join("\n");
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
}): Promise<CommitResult> {
  const { target, revision } = params;
  let retried = false;
  const f = params.makeFetch({ onRetry: () => (retried = true) });
  const url = `${target.endpoint}/api/models/${target.repo.full}/commit/${encodeURIComponent(revision)}${params.createPr ? "?create_pr=1" : ""}`;
  const res = await f(url, { method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body: await lines(params) });
  if (res.status === 412 && retried && !params.createPr) {
    await res.body?.cancel();
    const head = await revisionCommit(target, revision);
    if (head) return { oid: head.sha, url: `${target.endpoint}/${target.repo.full}/commit/${head.sha}`, pullRequestUrl: null, recovered: true };
  }
  if (!res.ok) throw await apiError(res);
  const json = (await res.json()) as { commitOid?: unknown; commitUrl?: unknown; pullRequestUrl?: unknown };
  if (typeof json.commitOid !== "string") throw new TruecastError("HUB_SERVER", `the Hub's answer to the commit on ${target.repo.full} has no commit id`);
  return {
    oid: json.commitOid,
    url: typeof json.commitUrl === "string" ? json.commitUrl : `${target.endpoint}/${target.repo.full}/commit/${json.commitOid}`,
    pullRequestUrl: typeof json.pullRequestUrl === "string" ? json.pullRequestUrl : null,
    recovered: false,
  };
}
