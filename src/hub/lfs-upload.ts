/**
 * The LFS half of an upload, done here rather than by the official client (which hashes on the main thread and
 * spends about 1 s of CPU per GB more than one PUT in its multipart loop), following the protocol it speaks:
 * - preupload: the Hub says whether a file goes to LFS or inside the commit;
 * - the LFS batch call: objects the Hub already stores come back without `actions` and are not sent again;
 * - a basic transfer is one PUT of the whole file to `href`; a multipart one has `chunk_size` and one URL per
 *   part (keys "00001", "00002", ...) in `header`: each part is PUT, its ETag kept, and the list POSTed to
 *   `href` to complete the object;
 * - a `verify` action, when the Hub gives one, is POSTed `{oid, size}` after the upload (as the Python client does).
 * What the batch answer asks for is checked first (lfs-action.ts: http(s) URLs only, no downgrade, no header that
 * splits a request or sets the transport's or the token's, a bounded number of parts). Every request goes through
 * the session's fetch (hub-fetch.ts): token to the endpoint's origin only, retries, and request bodies streamed
 * from the file, never buffered.
 */
import { HubApiError } from "@huggingface/hub";
import { TruecastError } from "../errors.js";
import type { FileBlob } from "./file-blob.js";
import { answerUrl, readJsonObject } from "./hub-json.js";
import { actionHeaders, actionUrlProblem, MAX_MULTIPART_PARTS } from "./lfs-action.js";
import { apiError, type HubTarget } from "./repo-setup.js";

/** Parts of one multipart upload sent at once (the official client's number): enough to fill a link to S3. */
const MULTIPART_PARALLEL_PARTS = 5;

/** Bytes of a file the preupload call gets as a sample (the official client's number). */
const PREUPLOAD_SAMPLE_BYTES = 512;

const LFS_JSON = "application/vnd.git-lfs+json";
const LFS_HEADERS = { Accept: LFS_JSON, "Content-Type": LFS_JSON };

export interface LfsCall {
  target: HubTarget;
  /** The fetch for this file's requests (hub-fetch, with this file's progress hooks). */
  fetch: typeof fetch;
  revision: string;
  createPr: boolean;
  pathInRepo: string;
  signal?: AbortSignal;
}

export interface LfsAction {
  href: string;
  header: Record<string, string>;
  verify: { href: string; header: Record<string, string> } | null;
  /** The batch call's X-Request-Id, sent with a basic PUT as the official client does. */
  requestId: string | null;
}

function badAnswer(call: LfsCall, what: string): TruecastError {
  return new TruecastError("HUB_SERVER", `the Hub's answer to the LFS batch call for ${call.pathInRepo} ${what}; run the same command again, and report it if it persists`);
}

function stringRecord(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) return null;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") return null;
    out[k] = x;
  }
  return out;
}

/** An action's headers, with the LFS content type and accept set over any of its own. */
function withLfsHeaders(header: Readonly<Record<string, string>>): Headers {
  const h = new Headers(header);
  for (const [k, v] of Object.entries(LFS_HEADERS)) h.set(k, v);
  return h;
}

/** Reads a small response body to its end, so the connection can be reused. */
async function drain(res: Response): Promise<void> {
  await res.arrayBuffer().catch(() => undefined);
}

/** "lfs" or "regular" (inside the commit), as the Hub decides for this path, size and first bytes. */
export async function preuploadMode(call: LfsCall & { blob: FileBlob }): Promise<"lfs" | "regular"> {
  const { target } = call;
  const sample = Buffer.from(await call.blob.slice(0, PREUPLOAD_SAMPLE_BYTES).arrayBuffer()).toString("base64");
  const url = `${target.endpoint}/api/models/${target.repo.full}/preupload/${encodeURIComponent(call.revision)}${call.createPr ? "?create_pr=1" : ""}`;
  const res = await call.fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ files: [{ path: call.pathInRepo, size: call.blob.size, sample }] }),
    ...(call.signal && { signal: call.signal }),
  });
  if (!res.ok) throw await apiError(res);
  const json = await readJsonObject(res, url);
  const files: unknown[] = Array.isArray(json.files) ? (json.files as unknown[]) : [];
  const mine = files.find((f): f is { path: unknown; uploadMode?: unknown } => f !== null && typeof f === "object" && (f as { path?: unknown }).path === call.pathInRepo);
  const mode = mine?.uploadMode;
  if (mode !== "lfs" && mode !== "regular") {
    throw new TruecastError("HUB_SERVER", `the Hub's preupload answer from ${answerUrl(res, url)} gives no upload mode for ${call.pathInRepo}; run the same command again, and report it if it persists`);
  }
  return mode;
}

/** Where to send the object, or null when the Hub already stores it. */
export async function lfsBatch(call: LfsCall & { oid: string; size: number }): Promise<LfsAction | null> {
  const { target } = call;
  const url = `${target.endpoint}/${target.repo.full}.git/info/lfs/objects/batch`;
  const body = {
    operation: "upload",
    transfers: ["basic", "multipart"],
    hash_algo: "sha_256",
    ...(!call.createPr && { ref: { name: call.revision } }),
    objects: [{ oid: call.oid, size: call.size }],
  };
  const res = await call.fetch(url, { method: "POST", headers: LFS_HEADERS, body: JSON.stringify(body), ...(call.signal && { signal: call.signal }) });
  if (!res.ok) throw await apiError(res);
  const requestId = res.headers.get("X-Request-Id");
  const json = await readJsonObject(res, url);
  type BatchObject = { oid?: unknown; error?: { code?: unknown; message?: unknown }; actions?: { upload?: unknown; verify?: unknown } };
  const objects: unknown[] = Array.isArray(json.objects) ? (json.objects as unknown[]) : [];
  const obj = objects.find((o): o is BatchObject => o !== null && typeof o === "object" && (o as BatchObject).oid === call.oid);
  if (!obj) throw badAnswer(call, "does not name its object");
  if (obj.error !== undefined && (obj.error === null || typeof obj.error !== "object")) throw badAnswer(call, "has an error that is not an object");
  if (obj.actions !== undefined && (obj.actions === null || typeof obj.actions !== "object")) throw badAnswer(call, "has actions that are not an object");
  if (obj.error) {
    const status = typeof obj.error.code === "number" ? obj.error.code : 422;
    const said = typeof obj.error.message === "string" ? obj.error.message : "";
    const e = new HubApiError(url, status, requestId ?? undefined, `LFS batch error ${status}${said ? `: ${said}` : ""}`);
    e.data = said ? { error: said } : {};
    throw e;
  }
  const upload = obj.actions?.upload as { href?: unknown; header?: unknown } | undefined;
  if (!upload) return null;
  const header = stringRecord(upload.header);
  if (typeof upload.href !== "string" || header === null) throw badAnswer(call, "has an upload action without a URL");
  const v = obj.actions?.verify as { href?: unknown; header?: unknown } | undefined;
  const verifyHeader = stringRecord(v?.header);
  const verify = v && typeof v.href === "string" && verifyHeader !== null ? { href: v.href, header: verifyHeader } : null;
  return checkedAction(call, { href: upload.href, header, verify, requestId });
}

/** The action, once every URL it sends to and every header it sets is one truecast sends (lfs-action.ts). */
function checkedAction(call: LfsCall, action: LfsAction): LfsAction {
  const endpoint = call.target.endpoint;
  const urls: Array<[string, string]> = [[action.header.chunk_size === undefined ? "upload" : "completion", action.href]];
  if (action.header.chunk_size !== undefined) {
    const parts = Object.entries(action.header).filter(([k]) => /^[0-9]+$/.test(k));
    if (parts.length > MAX_MULTIPART_PARTS) throw badAnswer(call, `has ${parts.length} parts, more than ${MAX_MULTIPART_PARTS} (the most any storage takes)`);
    for (const [k, url] of parts) urls.push([`part ${k}`, url]);
  }
  if (action.verify) urls.push(["verify", action.verify.href]);
  for (const [what, url] of urls) {
    const problem = actionUrlProblem(endpoint, url);
    if (problem !== null) throw badAnswer(call, `gives the ${what} action ${problem}`);
  }
  if (!action.verify) return action;
  const header = actionHeaders(action.verify.header);
  if (typeof header === "string") throw badAnswer(call, `gives the verify action ${header}`);
  return { ...action, verify: { href: action.verify.href, header } };
}

/** Send the object as the batch call asked (one PUT, or parts and their completion), then verify if asked. */
export async function putLfsObject(call: LfsCall & { action: LfsAction; blob: FileBlob; oid: string }): Promise<void> {
  const { action, blob } = call;
  const signal = call.signal ? { signal: call.signal } : {};
  if (action.header.chunk_size !== undefined) {
    await putMultipart(call);
  } else {
    const res = await call.fetch(action.href, { method: "PUT", headers: action.requestId ? { "X-Request-Id": action.requestId } : {}, body: blob, ...signal });
    if (!res.ok) throw await apiError(res);
    await drain(res);
  }
  if (action.verify) {
    const res = await call.fetch(action.verify.href, {
      method: "POST",
      headers: withLfsHeaders(action.verify.header),
      body: JSON.stringify({ oid: call.oid, size: blob.size }),
      ...signal,
    });
    if (!res.ok) throw await apiError(res);
    await drain(res);
  }
}

async function putMultipart(call: LfsCall & { action: LfsAction; blob: FileBlob; oid: string }): Promise<void> {
  const { action, blob } = call;
  const chunkSize = Number(action.header.chunk_size);
  const urls = Object.entries(action.header)
    .filter(([k]) => /^[0-9]+$/.test(k))
    .map(([k, url]) => ({ n: Number(k), url }))
    .sort((a, b) => a.n - b.n);
  const count = chunkSize > 0 && Number.isSafeInteger(chunkSize) ? Math.ceil(blob.size / chunkSize) : -1;
  if (count !== urls.length || urls.some((p, i) => p.n !== i + 1)) {
    throw badAnswer(call, `has ${urls.length} part URLs for a ${blob.size}-byte file in parts of ${action.header.chunk_size ?? "?"} bytes`);
  }
  // Parts still running when one fails are cancelled, so nothing keeps uploading after this throws.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(call.signal?.reason);
  call.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const etags = new Array<string>(count);
  let next = 0;
  const sendParts = async (): Promise<void> => {
    while (next < count && !stop.signal.aborted) {
      const i = next++;
      const part = urls[i] as { n: number; url: string };
      const res = await call.fetch(part.url, { method: "PUT", body: blob.slice(i * chunkSize, (i + 1) * chunkSize), signal: stop.signal });
      if (!res.ok) throw await apiError(res);
      await drain(res);
      const etag = res.headers.get("ETag");
      if (!etag) throw new TruecastError("HUB_SERVER", `the storage host answered part ${part.n} of ${call.pathInRepo} without an ETag; run the same command again, and report it if it persists`);
      etags[i] = etag;
    }
  };
  try {
    const lanes = Array.from({ length: Math.min(MULTIPART_PARALLEL_PARTS, count) }, () =>
      sendParts().catch((e: unknown) => {
        stop.abort(e);
        throw e;
      }),
    );
    const settled = await Promise.allSettled(lanes);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (call.signal?.aborted) throw call.signal.reason;
    if (failed) throw stop.signal.reason ?? failed.reason;
  } finally {
    call.signal?.removeEventListener("abort", onOuterAbort);
  }
  const res = await call.fetch(action.href, {
    method: "POST",
    headers: LFS_HEADERS,
    body: JSON.stringify({ oid: call.oid, parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }),
    ...(call.signal && { signal: call.signal }),
  });
  if (!res.ok) throw await apiError(res);
  await drain(res);
}
