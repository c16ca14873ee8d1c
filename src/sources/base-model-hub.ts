import { copyFile, mkdir, rename, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { randomBytes } from "node:crypto";
import { HubApiError } from "@huggingface/hub";
import { TruecastError } from "../errors.js";
// The one retrying fetch of every Hub call (a shared Hugging Face convention; it lives with the publish code).
import { createHubFetch, HubNetworkError } from "../hub/hub-fetch.js";
import type { RetryPolicy } from "../hub/retry.js";
import { httpTimeouts, type HttpTimeouts } from "../util/http-guard.js";
import { COMMIT_HASH, checkRepoPath, isFile, repoFolder } from "./base-model-cache.js";
import { downloadResumable } from "./hub-download.js";

/**
 * Downloads files of one Hub model into the shared Hugging Face cache layout, through the Hub's retrying fetch
 * (hub/hub-fetch.ts). A probe reads what Python's client reads from the Hub's own answer (not the storage host's it
 * redirects to): the commit, the etag (an LFS file's sha256) and the size. A body cut off mid-file is resumed with
 * Range requests (hub-download.ts):
 * the bytes go to `blobs/<etag>` (written to a temporary name, size- and sha256-checked, then renamed), the snapshot entry
 * `snapshots/<commit>/<file>` is a relative symlink to the blob (a copy where symlinks are refused), `refs/<revision>`
 * records the commit, and files the repository lacks are marked under `.no_exist/<commit>/`, as huggingface_hub does,
 * so that the next run, or a Python program, finds them offline.
 */

export interface HubDownloadParams {
  modelId: string;
  /** Branch, tag or commit hash. The first answer pins the commit; every later file is fetched at that commit. */
  revision: string;
  files: readonly string[];
  cacheDir: string;
  endpoint: string;
  token?: string;
  fetch?: typeof fetch;
  /** Deadlines of each request (default: TRUECAST_HTTP_TIMEOUT_MS from process.env, see util/http-guard.ts). */
  timeouts?: HttpTimeouts;
  /** Retries of each request (default: hub/retry.ts DEFAULT_RETRY). */
  retry?: Partial<RetryPolicy>;
  /** Waits between retries (tests shorten them). */
  sleep?: (ms: number) => Promise<void>;
}

export interface HubDownloadResult {
  commit: string;
  /** name → path in the snapshot folder. */
  got: Map<string, string>;
  /** Files the repository does not have (the Hub answered "entry not found"). */
  absent: string[];
}

/** Header names the Hub sets on `resolve` answers. */
const COMMIT_HEADER = "x-repo-commit";
/** An etag becomes a file name under blobs/: only these characters are accepted. */
const SAFE_ETAG = /^[0-9A-Za-z._-]{1,128}$/;

function uniqueSuffix(): string {
  return `.truecast-${process.pid}-${randomBytes(6).toString("hex")}.incomplete`;
}

/** Write small text atomically: a temporary sibling, then rename. */
async function writeAtomic(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = path + uniqueSuffix();
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** The snapshot entry as a relative symlink to the blob, replaced atomically; a copy where symlinks are refused. */
async function linkIntoSnapshot(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const tmp = pointer + uniqueSuffix();
  try {
    await symlink(relative(dirname(pointer), blob), tmp);
  } catch {
    await copyFile(blob, tmp);
  }
  await rename(tmp, pointer);
}

/** huggingface_hub's etag normalization: no weak-validator prefix, no quotes. */
function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

/** A Hub failure as one actionable line. */
export function describeHubFailure(e: unknown, endpoint: string, modelId: string): string {
  if (e instanceof HubApiError) {
    if (e.statusCode === 401 || e.statusCode === 403) {
      return `the Hub at ${endpoint} refused access to ${modelId} (HTTP ${e.statusCode}: private or gated; set HF_TOKEN)`;
    }
    if (e.statusCode === 404) return `the Hub at ${endpoint} has no model ${modelId} (HTTP 404)`;
    return `the Hub at ${endpoint} answered HTTP ${e.statusCode} for ${modelId}`;
  }
  if (e instanceof HubNetworkError) return `could not reach the Hub at ${endpoint} (${e.message})`;
  if (e instanceof TruecastError) return e.message;
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `could not reach the Hub at ${endpoint} (${e instanceof Error ? e.message : String(e)}${cause})`;
}

/**
 * The commit a revision points to, from the Hub's own answer to a HEAD whose redirect is not followed (an LFS file's
 * final answer comes from a storage host that does not name the commit), as Python's client asks for it; through the
 * retrying Hub fetch, like every other request of the download.
 */
async function commitFromHead(hubFetch: typeof fetch, url: string): Promise<string | undefined> {
  const res = await hubFetch(url, { method: "HEAD", redirect: "manual" });
  await res.body?.cancel().catch(() => undefined);
  const c = res.headers.get(COMMIT_HEADER);
  if (c !== null && COMMIT_HASH.test(c)) return c;
  // A failure that outlasted the retries is said as such, not as a missing header (a 404 of an absent file names the commit).
  if (res.status >= 400 && res.status !== 404) throw new HubApiError(url, res.status, res.headers.get("x-request-id") ?? undefined, `HTTP ${res.status}`);
  return undefined;
}

/** What the Hub says of one file at a revision; null when it does not have it. */
interface FileProbe {
  commit: string | undefined;
  etag: string;
  size: number;
}

/** A one-byte GET of `url`: the first hop's headers (the Hub's own answer), the last hop's status and range. */
async function probeFile(hubFetch: typeof fetch, hops: Response[], url: string, name: string): Promise<FileProbe | null> {
  hops.length = 0;
  const res = await hubFetch(url, { headers: { Range: "bytes=0-0" } });
  await res.body?.cancel().catch(() => undefined);
  const first = hops[0] ?? res;
  if (res.status === 404 && res.headers.get("x-error-code") === "EntryNotFound") return null;
  if (!res.ok) throw new HubApiError(url, res.status, res.headers.get("x-request-id") ?? undefined, `HTTP ${res.status}`);
  const header = (h: string) => first.headers.get(h) ?? res.headers.get(h);
  const commit = header(COMMIT_HEADER) ?? undefined;
  const etag = first.headers.get("x-linked-etag") ?? header("etag");
  if (etag === null) throw new TruecastError("HUB_SERVER", `${name}: the Hub answered without an ETag`);
  const total = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1];
  const size = Number(first.headers.get("x-linked-size") ?? total ?? res.headers.get("content-length") ?? NaN);
  if (!Number.isSafeInteger(size) || size < 0) throw new TruecastError("HUB_SERVER", `${name}: the Hub did not say how large it is`);
  return { commit: commit !== undefined && COMMIT_HASH.test(commit) ? commit : undefined, etag, size };
}

export async function downloadToCache(params: HubDownloadParams): Promise<HubDownloadResult> {
  const folder = repoFolder(params.cacheDir, params.modelId);
  // While a file's bytes are being fetched, its size: that request gets an idle limit instead of a total one.
  let transferring: number | null = null;
  // The token goes only to the endpoint's own origin (never to a storage host it redirects to), and is given to
  // hub-fetch rather than as `accessToken`, which @huggingface/hub refuses unless it starts with "hf_" (Python accepts any).
  const hubFetch = createHubFetch({
    endpoint: params.endpoint, token: params.token ?? "", fetch: params.fetch, timeouts: params.timeouts ?? httpTimeouts(),
    ...(params.retry && { retry: params.retry }), ...(params.sleep && { sleep: params.sleep }), transferBytes: () => transferring,
    hooks: { onHop: (res) => hops.push(res) },
  });
  const hops: Response[] = [];
  const fileUrl = (revision: string, name: string) =>
    `${params.endpoint}/${params.modelId}/resolve/${encodeURIComponent(revision)}/${name.split("/").map(encodeURIComponent).join("/")}`;
  let commit: string | undefined = COMMIT_HASH.test(params.revision) ? params.revision : undefined;
  const got = new Map<string, string>();
  const absent: string[] = [];
  for (const name of params.files) {
    checkRepoPath(name);
    const info = await probeFile(hubFetch, hops, fileUrl(commit ?? params.revision, name), name);
    commit ??= info?.commit ?? (await commitFromHead(hubFetch, fileUrl(params.revision, name)));
    if (commit === undefined) {
      throw new TruecastError(
        "HUB_SERVER",
        `the Hub at ${params.endpoint} did not say which commit ${params.modelId}@${params.revision} is (no X-Repo-Commit header)`,
      );
    }
    if (info === null) {
      absent.push(name);
      await writeAtomic(join(folder, ".no_exist", commit, name), "");
      continue;
    }
    const etag = normalizeEtag(info.etag);
    if (!SAFE_ETAG.test(etag)) {
      throw new TruecastError("HUB_SERVER", `${name}: the Hub answered an unusable ETag ${JSON.stringify(info.etag)}`);
    }
    const blobPath = join(folder, "blobs", etag);
    if (!(await isFile(blobPath))) {
      // The probe may have asked for a branch: fetch the bytes at the pinned commit, so that a push in between
      // cannot mix files of two commits.
      transferring = info.size;
      try {
        await downloadResumable({ fetch: hubFetch, url: fileUrl(commit, name), size: info.size, etag, dest: blobPath, name });
      } finally {
        transferring = null;
      }
    }
    const pointer = join(folder, "snapshots", commit, name);
    await linkIntoSnapshot(blobPath, pointer);
    got.set(name, pointer);
  }
  if (commit === undefined) throw new TruecastError("INTERNAL", "downloadToCache called with no files");
  if (!COMMIT_HASH.test(params.revision)) await writeAtomic(join(folder, "refs", params.revision), commit);
  return { commit, got, absent };
}
