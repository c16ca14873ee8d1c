import { createWriteStream } from "node:fs";
import { copyFile, mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomBytes } from "node:crypto";
import { downloadFile, fileDownloadInfo, HubApiError } from "@huggingface/hub";
import { TruecastError } from "../errors.js";
import { guardFetch, httpTimeouts, type HttpTimeouts } from "../util/http-guard.js";
import { COMMIT_HASH, checkRepoPath, isFile, repoFolder } from "./base-model-cache.js";

/**
 * Downloads files of one Hub model into the shared Hugging Face cache layout, through `@huggingface/hub`:
 * the bytes go to `blobs/<etag>` (written to a temporary name, size-checked, then renamed), the snapshot entry
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
  if (e instanceof TruecastError) return e.message;
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `could not reach the Hub at ${endpoint} (${e instanceof Error ? e.message : String(e)}${cause})`;
}

async function saveBlob(body: ReadableStream<Uint8Array>, blobPath: string, size: number, name: string): Promise<void> {
  await mkdir(dirname(blobPath), { recursive: true });
  const tmp = blobPath + uniqueSuffix();
  let written = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      written += chunk.length;
      // A server that sends more than it announced is stopped at once, not after filling the disk.
      if (written > size) return done(new TruecastError("HUB_SERVER", `${name}: the Hub announced ${size} bytes but sends more; run again`));
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>), count, createWriteStream(tmp));
    if (written !== size) {
      throw new TruecastError("HUB_NETWORK", `${name}: the Hub announced ${size} bytes but sent ${written}; run again`);
    }
    await rename(tmp, blobPath);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * The commit a revision points to, from the Hub's own answer to a HEAD that does not follow redirects (an LFS file's
 * final answer comes from a storage host that does not name the commit), as Python's client asks for it.
 */
async function commitFromHead(p: HubDownloadParams & { path: string }): Promise<string | undefined> {
  const url = `${p.endpoint}/${p.modelId}/resolve/${encodeURIComponent(p.revision)}/${p.path}`;
  const res = await guardFetch(p.fetch ?? fetch, p.timeouts ?? httpTimeouts())(url, {
    method: "HEAD",
    redirect: "manual",
    headers: p.token === undefined ? {} : { Authorization: `Bearer ${p.token}` },
  });
  await res.body?.cancel().catch(() => undefined);
  const c = res.headers.get(COMMIT_HEADER);
  return c !== null && COMMIT_HASH.test(c) ? c : undefined;
}

export async function downloadToCache(params: HubDownloadParams): Promise<HubDownloadResult> {
  const folder = repoFolder(params.cacheDir, params.modelId);
  // While a file's bytes are being fetched, its size: that request gets an idle limit instead of a total one.
  let transferring: number | null = null;
  const baseFetch = guardFetch(params.fetch ?? fetch, params.timeouts ?? httpTimeouts(), () => transferring);
  let seenCommit: string | undefined;
  const origin = new URL(params.endpoint).origin;
  // The token goes only to the endpoint's own origin (never to a storage host it redirects to), and is passed here
  // rather than as `accessToken`, which @huggingface/hub refuses unless it starts with "hf_" (Python accepts any).
  const recordingFetch: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    let withAuth = init;
    if (params.token !== undefined && new URL(url).origin === origin) {
      const headers = new Headers(init?.headers);
      if (!headers.has("authorization")) headers.set("Authorization", `Bearer ${params.token}`);
      withAuth = { ...init, headers };
    }
    const res = await baseFetch(input, withAuth);
    const c = res.headers.get(COMMIT_HEADER);
    if (seenCommit === undefined && c !== null && COMMIT_HASH.test(c)) seenCommit = c;
    return res;
  };
  const repo = { type: "model" as const, name: params.modelId };
  let commit: string | undefined = COMMIT_HASH.test(params.revision) ? params.revision : undefined;
  const got = new Map<string, string>();
  const absent: string[] = [];
  for (const name of params.files) {
    checkRepoPath(name);
    const common = {
      repo,
      path: name,
      revision: commit ?? params.revision,
      hubUrl: params.endpoint,
      fetch: recordingFetch,
    };
    const info = await fileDownloadInfo(common);
    commit ??= seenCommit ?? (await commitFromHead({ ...params, path: name }));
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
      const asked = `/resolve/${encodeURIComponent(common.revision)}/`;
      const url = info.url.startsWith(params.endpoint + "/") ? info.url.replace(asked, `/resolve/${commit}/`) : info.url;
      transferring = info.size;
      try {
        const blob = await downloadFile({ ...common, revision: commit, downloadInfo: { ...info, url } });
        if (blob === null) throw new TruecastError("HUB_SERVER", `${name}: the Hub listed it, then said it does not exist`);
        await saveBlob(blob.stream(), blobPath, info.size, name);
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
