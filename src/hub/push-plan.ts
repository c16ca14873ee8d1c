/**
 * `--dry-run` of `publish` and `export --push`: the target checked with read-only calls only (whoami, the repo's
 * info, the branch's commit: GETs), and the uploads and write calls a real run would make, predicted without
 * sending any of them. The Hub decides each file's upload mode in its preupload answer, a POST a dry run does not
 * send; the prediction follows the rules a real run meets: over MAX_REGULAR_FILE_BYTES always LFS, else the
 * patterns of the `.gitattributes` the Hub gives a new repository.
 */
import { createHubFetch } from "./hub-fetch.js";
import { toHubError } from "./hub-errors.js";
import { parseRepoId } from "./repo-id.js";
import { checkToken, repoState, revisionCommit, type HubTarget } from "./repo-setup.js";
import { resolveEndpoint } from "./token.js";
import { MAX_REGULAR_FILE_BYTES, type UploadSessionParams } from "./upload-session.js";
import { httpTimeouts } from "../util/http-guard.js";

/** The settings of an upload session that name the target and how to reach it. */
export type PushTargetParams = Pick<UploadSessionParams, "repoId" | "token" | "endpoint" | "revision" | "createPr" | "public" | "fetch" | "retry" | "sleep" | "timeouts">;

/** Where a publish would go, as the Hub answers read-only calls now. */
export interface PushTarget {
  readonly repoId: string;
  readonly endpoint: string;
  readonly revision: string;
  readonly createPr: boolean;
  /** The account the token belongs to. */
  readonly user: string;
  /** The repo does not exist for this token: a real run creates it (right before its first upload). */
  readonly createsRepo: boolean;
  /** Visibility: the repo's own, or the one a created repo gets. */
  readonly private: boolean;
  /** The branch does not exist: a real run creates it from main (never with a pull request). */
  readonly createsBranch: boolean;
  /** The read-only calls made to find this out. */
  readonly requestsMade: number;
}

/**
 * Check the token (a read-only token is refused as a real run refuses it), the repo id, whether the repo and the
 * branch exist: GET requests only. Throws the TruecastError a real run's first steps would throw.
 */
export async function checkPushTarget(params: PushTargetParams): Promise<PushTarget> {
  const repo = parseRepoId(params.repoId);
  const endpoint = resolveEndpoint(params.endpoint);
  const revision = params.revision ?? "main";
  const createPr = params.createPr ?? false;
  let requests = 0;
  const inner = params.fetch ?? fetch;
  const counted: typeof fetch = (input, init) => {
    requests++;
    return inner(input, init);
  };
  const fail = (e: unknown, step: string) => toHubError(e, { repoId: repo.full, step, token: params.token });
  const target: HubTarget = {
    endpoint,
    repo,
    fetch: createHubFetch({ endpoint, token: params.token, fetch: counted, retry: params.retry, sleep: params.sleep, timeouts: params.timeouts ?? httpTimeouts() }),
  };
  let user: string;
  try {
    user = await checkToken(target);
  } catch (e) {
    throw fail(e, "checking the token");
  }
  let state: { private: boolean } | null;
  try {
    state = await repoState(target);
  } catch (e) {
    throw fail(e, `looking up ${repo.full}`);
  }
  let createsBranch = false;
  if (!createPr && revision !== "main") {
    try {
      createsBranch = state === null || (await revisionCommit(target, revision)) === null;
    } catch (e) {
      throw fail(e, `looking up ${repo.full}@${revision}`);
    }
  }
  return {
    repoId: repo.full, endpoint, revision, createPr, user,
    createsRepo: state === null,
    private: state ? state.private : !params.public,
    createsBranch,
    requestsMade: requests,
  };
}

/**
 * File patterns the `.gitattributes` of a new Hub model repository sends to LFS (beside the size rule). A repo
 * whose own `.gitattributes` differs may answer otherwise for a file under the size limit.
 */
const HUB_DEFAULT_LFS = [
  ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gz", ".h5", ".joblib", ".mlmodel", ".model", ".msgpack", ".npy",
  ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth", ".rar", ".safetensors", ".tar",
  ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst",
];

/** How one file would travel. */
export interface PlannedUpload {
  readonly path: string;
  /** null: known only once written (a generated model card, the report). */
  readonly bytes: number | null;
  readonly mode: "lfs" | "regular";
  /** The rule that predicts it. */
  readonly because: string;
}

/** The upload mode a real run would most likely get for `path` of `bytes` (see the file comment for how sure). */
export function predictUpload(path: string, bytes: number | null): PlannedUpload {
  if (bytes !== null && bytes > MAX_REGULAR_FILE_BYTES) return { path, bytes, mode: "lfs", because: `over ${MAX_REGULAR_FILE_BYTES} bytes: LFS whatever the Hub answers` };
  const ext = HUB_DEFAULT_LFS.find((e) => path.toLowerCase().endsWith(e));
  if (ext !== undefined) return { path, bytes, mode: "lfs", because: `*${ext} is LFS in the Hub's default .gitattributes` };
  return {
    path, bytes, mode: "regular",
    because: `inside the commit${bytes === null ? ` if at most ${MAX_REGULAR_FILE_BYTES} bytes once written` : ""}, unless the repo's .gitattributes sends it to LFS`,
  };
}

/** The write calls a real run would make (none is made by a dry run). */
export interface PlannedRequests {
  readonly createRepo: number;
  readonly createBranch: number;
  /** One preupload POST per file (the Hub's upload-mode answer). */
  readonly preupload: number;
  /** One LFS batch POST per LFS file; an object the Hub already stores is not sent again. */
  readonly lfsBatch: number;
  /** At least one PUT per LFS file the Hub does not store yet (a multipart upload sends one per part). */
  readonly lfsUploadsAtMost: number;
  /** Bytes of the LFS files whose size is known (what at most is sent). */
  readonly lfsBytesAtMost: number;
  /** Files whose bytes travel inside the commit. */
  readonly inCommit: number;
  /** Always one commit (none when the branch already holds every file unchanged). */
  readonly commits: number;
}

/** The uploads and write calls for `files` to `target`. */
export function planRequests(target: PushTarget, files: readonly PlannedUpload[]): PlannedRequests {
  const lfs = files.filter((f) => f.mode === "lfs");
  return {
    createRepo: target.createsRepo ? 1 : 0,
    createBranch: target.createsBranch ? 1 : 0,
    preupload: files.length,
    lfsBatch: lfs.length,
    lfsUploadsAtMost: lfs.length,
    lfsBytesAtMost: lfs.reduce((n, f) => n + (f.bytes ?? 0), 0),
    inCommit: files.length - lfs.length,
    commits: 1,
  };
}
