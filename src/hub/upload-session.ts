/**
 * An upload session: LFS uploads of single files (no commit), then one commit of everything.
 * `publishFolder` is built from it; `export --push` uses it to upload each shard as soon as it is written,
 * delete it locally, and commit last.
 *
 * Each upload asks the Hub (preupload) whether the file goes to LFS; a file over MAX_REGULAR_FILE_BYTES goes there
 * whatever the answer. A small file is only hashed here: its bytes travel inside the commit. An LFS file is hashed on a worker thread (util/file-sha256.ts), then the LFS batch call
 * (which skips objects the Hub already stores) and the basic or multipart PUTs follow (lfs-upload.ts). The commit
 * itself is the Hub's ndjson commit call (commit-request.ts), because by then a shard may be gone from the local
 * disk. The official client still does the token check and the repo and branch set-up (repo-setup.ts).
 */
import { TruecastError } from "../errors.js";
import type { FileState, PublishEvent } from "./events.js";
import { FileBlob } from "./file-blob.js";
import type { EarlyHash } from "./early-hash.js";
import { changedWhileHashed, type FileIdentity } from "./file-identity.js";
import { hashRegularFile } from "./file-hash.js";
import { sha256OnWorker, warmSha256Worker } from "../util/file-sha256.js";
import { createHubFetch, type HubFetchHooks } from "./hub-fetch.js";
import { toHubError } from "./hub-errors.js";
import { lfsBatch, preuploadMode, putLfsObject, type LfsCall } from "./lfs-upload.js";
import { parseRepoId } from "./repo-id.js";
import { checkToken, createMissingRepo, deleteCreatedRepo, ensureBranch, repoState, revisionCommit, type HubTarget } from "./repo-setup.js";
import { remoteAlreadyHolds } from "./unchanged.js";
import { postCommit, type CommitResult } from "./commit-request.js";
import { httpTimeouts, type HttpTimeouts } from "../util/http-guard.js";
import type { RetryPolicy } from "./retry.js";
import { resolveEndpoint } from "./token.js";

export interface UploadSessionParams {
  repoId: string;
  token: string;
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Branch to commit to (created from main when missing). Default "main". */
  revision?: string;
  /** Open a pull request against `revision` instead of committing to it. */
  createPr?: boolean;
  /** Create a missing repo public. Default false: private. */
  public?: boolean;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  /** Waits between retries (tests shorten them). */
  sleep?: (ms: number) => Promise<void>;
  /** Per-attempt deadline and per-request retry budget (default: TRUECAST_HTTP_TIMEOUT_MS, TRUECAST_HTTP_RETRY_BUDGET_MS). */
  timeouts?: Partial<HttpTimeouts>;
  onProgress?: (e: PublishEvent) => void;
  /**
   * Start the sha256 worker while the repository is looked up, ready for the first file (default true). `export
   * --push` hashes its shards while verifying them and needs none unless a small file goes to LFS.
   */
  prestartHasher?: boolean;
}

export interface UploadedFile {
  localPath: string;
  pathInRepo: string;
  size: number;
  /** sha256 of the bytes. */
  oid: string;
  /** Stored in LFS (else the bytes go inside the commit, read from localPath at commit time). */
  lfs: boolean;
  /** False when the Hub already had the bytes. */
  sent: boolean;
  /** Git blob id, for files that travel inside the commit (the Hub lists it for them instead of a sha256). */
  gitOid?: string;
  /** The file hashed (device, inode, size, mtime): the commit reads a small file's bytes only from it. */
  identity: FileIdentity;
}

export interface UploadSession {
  readonly repoId: string;
  readonly endpoint: string;
  readonly revision: string;
  readonly createPr: boolean;
  /** True once this session has created the repository (it does so only right before its first upload). */
  readonly created: boolean;
  readonly private: boolean;
  /** Endpoint, repo and the fetch every call of this session uses (token scoped to the endpoint, retries). */
  readonly target: HubTarget;
  /** Bytes sent to LFS storage so far. */
  bytesSent(): number;
  /** Upload one file to LFS storage (small files are only hashed: they travel inside the commit). */
  uploadFile(localPath: string, pathInRepo: string, opts?: UploadFileOptions): Promise<UploadedFile>;
  /**
   * Commit the files in one commit; when the revision already holds every one of them unchanged, no commit is made
   * and the result names the revision's current commit with `unchanged: true` (never when `deleted` names files).
   */
  commit(files: readonly UploadedFile[], opts: CommitOptions): Promise<SessionCommit>;
  /**
   * Which of `objects` the Hub already stores for this repo with that size (the LFS batch call answers them without
   * an upload action): an earlier run's uploads. Nothing is created or sent; a repo that does not exist stores none.
   */
  stored(objects: readonly { pathInRepo: string; oid: string; size: number }[]): Promise<Set<string>>;
  /**
   * After a failure: delete the repository if this session created it and nothing was committed, so that a failed
   * run leaves no empty repository. Returns a line saying what happened, or null when there was nothing to undo.
   * With `keep` (why it is worth keeping: objects a re-run resumes from) such a repository is kept and the line says so.
   */
  abandon(opts?: { keep?: string }): Promise<string | null>;
  /** Map any error of a Hub call to a TruecastError without the token. */
  fail(e: unknown, step: string): TruecastError;
}

export interface UploadFileOptions {
  signal?: AbortSignal;
  /**
   * The file as it was listed (see folder-files.ts): the hash and every read of the upload check, on the handle
   * they read from, that the path still names it, and fail with VERIFY_FAILED otherwise. Default: the file as it is
   * when the upload starts.
   */
  expect?: FileIdentity;
  /**
   * Called once, as soon as the file's sha256 is known (the LFS protocol needs it before the first byte is sent),
   * or when the upload settles, whichever comes first. `publishFolder` starts the next file then, so that file's
   * hash (on its worker thread) overlaps this file's upload instead of running beside this file's hash.
   */
  onHashed?: () => void;
  /**
   * This file's sha256, already being computed from `expect` (early-hash.ts; only for a file over
   * MAX_REGULAR_FILE_BYTES, which goes to LFS whatever preupload says), or taken by `export --push` in the reads
   * that verified the shard it wrote (export-push.ts): used for an LFS upload instead of hashing the file again.
   */
  earlyHash?: EarlyHash;
}

export interface CommitOptions {
  summary: string;
  /** The commit's description (a pull request's description with `createPr`); Markdown. */
  description?: string;
  /** Paths of the revision the same commit deletes. */
  deleted?: readonly string[];
}

/** A commit made, or the commit that already held the files (`unchanged`). */
export interface SessionCommit extends CommitResult {
  unchanged: boolean;
}

/**
 * Largest file sent inside the commit, whatever preupload says: the Hub's own limit for a regular file (10 MB).
 * Everything bigger goes to LFS; what stays inside is streamed by commit-body.ts, so its size costs no memory.
 */
export const MAX_REGULAR_FILE_BYTES = 10_000_000;

/** Minimum time between two progress events of one file in one state, so GB files do not flood the caller. */
const PROGRESS_INTERVAL_MS = 100;

/**
 * Check the token, the repo id and whether the repository exists, and return a session that uploads files and makes
 * the one commit. Fails before any upload on a bad token or repo id. Nothing is created here: a missing repository
 * (private unless asked) and a missing branch are created right before the first upload, because the Hub's
 * preupload and LFS calls need them; {@link UploadSession.abandon} deletes such a repository again after a failure.
 */
export async function createUploadSession(params: UploadSessionParams): Promise<UploadSession> {
  const repo = parseRepoId(params.repoId);
  const endpoint = resolveEndpoint(params.endpoint);
  const revision = params.revision ?? "main";
  const createPr = params.createPr ?? false;
  const emit = params.onProgress ?? (() => undefined);
  const fail = (e: unknown, step: string) => toHubError(e, { repoId: repo.full, step, token: params.token });
  const makeFetch = (hooks: HubFetchHooks = {}) =>
    createHubFetch({
      endpoint, token: params.token, fetch: params.fetch, retry: params.retry, sleep: params.sleep, timeouts: params.timeouts ?? httpTimeouts(),
      hooks: {
        ...hooks,
        onRetry: (r) => {
          emit({ type: "retry", ...r });
          hooks.onRetry?.(r);
        },
      },
    });
  const target: HubTarget = { endpoint, repo, fetch: makeFetch() };
  let created = false;
  let committed = false;
  let commitSent = false;
  let isPrivate = !params.public;
  let exists = false;
  try {
    await checkToken(target);
  } catch (e) {
    throw fail(e, "checking the token");
  }
  // Started while the repo is looked up, so its start-up is not in the first file's path.
  if (params.prestartHasher !== false) warmSha256Worker();
  try {
    const state = await repoState(target);
    exists = state !== null;
    if (state) isPrivate = state.private;
  } catch (e) {
    throw fail(e, `looking up ${repo.full}`);
  }
  let ready: Promise<void> | null = null;
  /** Set by abandon(): from then on nothing is created (an upload still in flight must not create the repo after). */
  let abandoned = false;
  /** Create the repo and branch when missing, once, right before the first call that needs them. */
  const prepare = (): Promise<void> =>
    (ready ??= (async () => {
      if (abandoned) throw new TruecastError("INTERNAL", `the upload to ${repo.full} was abandoned`);
      try {
        if (!exists) {
          ({ created, private: isPrivate } = await createMissingRepo(target, params.public ?? false));
          exists = true;
        }
        if (!createPr) await ensureBranch(target, revision);
      } catch (e) {
        throw fail(e, `preparing ${repo.full}`);
      }
    })());
  let sentTotal = 0;

  async function uploadFile(localPath: string, pathInRepo: string, opts: UploadFileOptions = {}): Promise<UploadedFile> {
    let hashedCalled = false;
    const hashed = () => {
      if (hashedCalled) return;
      hashedCalled = true;
      opts.onHashed?.();
    };
    try {
      return await upload(localPath, pathInRepo, opts.signal, hashed, opts.expect, opts.earlyHash);
    } finally {
      hashed();
    }
  }

  async function upload(
    localPath: string, pathInRepo: string, signal: AbortSignal | undefined, hashed: () => void, expect: FileIdentity | undefined,
    early: EarlyHash | undefined,
  ): Promise<UploadedFile> {
    const blob = await FileBlob.open(localPath, expect);
    const size = blob.size;
    const identity = blob.identity;
    let sent = 0;
    let last = { state: "" as FileState | "", at: 0 };
    const report = (state: FileState, bytes: number, force = false) => {
      const now = Date.now();
      if (!force && state === last.state && now - last.at < PROGRESS_INTERVAL_MS) return;
      last = { state, at: now };
      emit({ type: "file", path: pathInRepo, state, bytes, total: size });
    };
    const fileFetch = makeFetch({
      onBodyBytes: (d) => {
        sent += d;
        sentTotal += d;
        report("uploading", Math.max(0, sent));
      },
    });
    await prepare();
    const call: LfsCall = { target, fetch: fileFetch, revision, createPr, pathInRepo, ...(signal && { signal }) };
    try {
      if ((await preuploadMode({ ...call, blob })) === "regular" && size <= MAX_REGULAR_FILE_BYTES) {
        const { sha256, gitOid } = await hashRegularFile(localPath, identity);
        hashed();
        report("in-commit", size, true);
        return { localPath, pathInRepo, size, oid: sha256, lfs: false, sent: false, gitOid, identity };
      }
      report("hashing", early?.bytes ?? 0, true);
      let oid: string;
      if (early) {
        early.onProgress = (b) => report("hashing", b);
        oid = await early.oid;
      } else {
        oid = await sha256OnWorker({ path: localPath, ...identity, changed: changedWhileHashed, onProgress: (b) => report("hashing", b), ...(signal && { signal }) });
      }
      report("hashing", size, true);
      hashed();
      const action = await lfsBatch({ ...call, oid, size });
      if (action === null) {
        report("already-stored", size, true);
        return { localPath, pathInRepo, size, oid, lfs: true, sent: false, identity };
      }
      report("uploading", 0, true);
      await putLfsObject({ ...call, action, blob, oid });
      report("uploaded", size, true);
      return { localPath, pathInRepo, size, oid, lfs: true, sent: true, identity };
    } catch (e) {
      throw fail(e, `uploading ${pathInRepo}`);
    }
  }

  async function commit(files: readonly UploadedFile[], opts: CommitOptions): Promise<SessionCommit> {
    await prepare();
    try {
      const parent = createPr ? null : ((await revisionCommit(target, revision))?.sha ?? null);
      if (parent !== null && (opts.deleted ?? []).length === 0 && (await remoteAlreadyHolds(target, parent, files))) {
        return { oid: parent, url: `${endpoint}/${repo.full}/tree/${parent}`, pullRequestUrl: null, recovered: false, unchanged: true };
      }
      // From here the commit may land even if its answer is lost: a repo that may hold it is never deleted.
      commitSent = true;
      const result = await postCommit({ target, makeFetch, revision, createPr, parent, files, ...opts });
      committed = true;
      return { ...result, unchanged: false };
    } catch (e) {
      const error = fail(e, `committing to ${repo.full}@${revision}`);
      // A refusal (401, 403) is an answer that nothing was committed; a lost connection or a 5xx is not.
      if (error.code === "HUB_AUTH" || error.code === "HUB_FORBIDDEN") commitSent = false;
      throw error;
    }
  }

  async function stored(objects: readonly { pathInRepo: string; oid: string; size: number }[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (!exists || objects.length === 0) return out;
    await prepare();
    for (const o of objects) {
      try {
        const action = await lfsBatch({ target, fetch: target.fetch, revision, createPr, pathInRepo: o.pathInRepo, oid: o.oid, size: o.size });
        if (action === null) out.add(o.oid);
      } catch (e) {
        throw fail(e, `asking whether the Hub stores ${o.pathInRepo}`);
      }
    }
    return out;
  }

  async function abandon(opts: { keep?: string } = {}): Promise<string | null> {
    abandoned = true;
    await ready?.catch(() => undefined);
    if (!created || committed) return null;
    if (commitSent) return `${repo.full} was created by this run and its commit may have landed although no answer came back; check it on the Hub`;
    if (opts.keep !== undefined) return `${repo.full} was created by this run and is kept without a commit: ${opts.keep}`;
    try {
      await deleteCreatedRepo(target);
      created = false;
      return `${repo.full} was created by this run and is deleted again: nothing was committed`;
    } catch (e) {
      return `${repo.full} was created by this run but could not be deleted (${fail(e, "deleting it").message}); delete it on the Hub`;
    }
  }

  return {
    repoId: repo.full, endpoint, revision, createPr, target,
    get created() {
      return created;
    },
    get private() {
      return isPrivate;
    },
    bytesSent: () => sentTotal, uploadFile, commit, stored, abandon, fail,
  };
}

/**
 * After a failed run: undo the repository this session created (see {@link UploadSession.abandon}) and return the
 * error to report, with what happened to the repository added to its message.
 */
export async function abandonAfter(session: UploadSession | null, e: unknown, opts: { keep?: string } = {}): Promise<unknown> {
  const note = await session?.abandon(opts);
  if (!note) return e;
  if (e instanceof TruecastError) return new TruecastError(e.code, `${e.message} (${note})`, { cause: e });
  return e;
}
