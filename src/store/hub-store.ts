/**
 * A Hub model repo read in place as a {@link ModelStore}. The revision is pinned to a commit once
 * (`GET /api/models/{repo}/revision/{rev}` → `sha`), so every later read sees the same files whatever is pushed
 * meanwhile; the listing is the recursive tree at that commit (LFS files carry their SHA-256, regular files their git
 * blob id: a whole-file read is checked against them, see listed-blob.ts); bytes come from
 * `GET {endpoint}/{repo}/resolve/{commit}/{path}` with `Range`. API calls go through the hub fetch, file bytes through
 * range-http.ts (truecast's own HTTP/1.1 client, the same rules: token on the endpoint's origin only, redirects, deadlines, retries that
 * honour Retry-After and RateLimit); every request is counted, with the bytes it brought, in `stats()`.
 */
import { TruecastError } from "../errors.js";
import { createHubFetch, type HubFetchHooks } from "../hub/hub-fetch.js";
import { listTree } from "../hub/list-tree.js";
import { redactToken } from "../hub/redirect-rules.js";
import { answerUrl, malformed, readJsonObject, stringField } from "../hub/hub-json.js";
import type { RetryPolicy } from "../hub/retry.js";
import type { HttpTimeouts } from "../util/http-guard.js";
import { BlockCache } from "./block-cache.js";
import { answerError, type AnswerContext } from "./hub-answer.js";
import { openHubFile } from "./hub-file.js";
import { fetchAnswer, type RangeAnswer } from "./hub-range.js";
import { listedBlob, type ListedBlob } from "./listed-blob.js";
import { createRangeHttp } from "./range-http.js";
import type { HubSpec } from "./hub-spec.js";
import type { ModelStore, StoreEntry, StoreFile, StoreStats } from "./store.js";

/**
 * Bytes fetched by a short read that misses the cache: enough for the 8-byte length and the whole header of
 * nearly every safetensors shard (a header is ~100-150 bytes a tensor: 256 KiB holds ~2,000 tensors), so reading a
 * header costs one request; a file no bigger than this (config.json, the index) is read whole, once.
 */
export const DEFAULT_BLOCK_SIZE = 256 * 1024;
/** Bytes the block cache of one store may hold: headers of ~60 shards, or a zip's records. */
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
const COMMIT = /^[0-9a-f]{40}$/;

/** A remote store, with what it was pinned to. */
export interface HubStore extends ModelStore {
  readonly remote: true;
  readonly spec: HubSpec;
  readonly endpoint: string;
  /** The commit the revision pointed to when the store was opened; every read is at this commit. */
  readonly commit: string;
}

export interface OpenHubStoreParams {
  spec: HubSpec;
  /** Without a trailing slash. */
  endpoint: string;
  /** Absent: anonymous. */
  token?: { token: string; source: string };
  /**
   * The underlying fetch (tests inject one). Without one, API calls use the global fetch and the bytes of files
   * come through range-http.ts (its own HTTP/1.1 client on kept-alive connections).
   */
  fetch?: typeof fetch;
  /** Stops the store's file reads (Ctrl-C): a read in progress fails at once. */
  signal?: AbortSignal;
  hooks?: HubFetchHooks;
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  timeouts?: Partial<HttpTimeouts>;
  /** Read-ahead of a short read, and the size up to which a file is read whole. Default {@link DEFAULT_BLOCK_SIZE}. */
  blockSize?: number;
  /** Default {@link DEFAULT_CACHE_BYTES}. */
  cacheBytes?: number;
}

/** Wraps a response so that its body's bytes are counted as they are read. */
function counted(res: Response, count: (n: number) => void): Response {
  if (res.body === null) return res;
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const r = await reader.read();
        if (r.done) return ctl.close();
        count(r.value.byteLength);
        ctl.enqueue(r.value);
      } catch (e) {
        ctl.error(e);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperty(out, "url", { value: res.url });
  return out;
}

/** Pins the revision and returns the store; fails with one clear line when the repo or revision cannot be read. */
export async function openHubStore(p: OpenHubStoreParams): Promise<HubStore> {
  const { spec, endpoint } = p;
  let requests = 0;
  let bytesRead = 0;
  const hooks: HubFetchHooks = {
    ...p.hooks,
    onRetry: (e) => {
      requests++;
      p.hooks?.onRetry?.(e);
    },
  };
  const hubFetch = createHubFetch({
    endpoint, token: p.token?.token ?? "", hooks,
    ...(p.fetch && { fetch: p.fetch }), ...(p.retry && { retry: p.retry }), ...(p.sleep && { sleep: p.sleep }), ...(p.timeouts && { timeouts: p.timeouts }),
  });
  /** The last failed answer's status and headers, for errors raised by code that reads only the status. */
  let lastFailure: { status: number; headers: Headers } | null = null;
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    requests++;
    const res = await hubFetch(input, init);
    if (res.status >= 400) lastFailure = { status: res.status, headers: res.headers };
    return counted(res, (n) => (bytesRead += n));
  }) as typeof globalThis.fetch;
  // File bytes: from the socket's read buffer straight into the reader's buffers, unless a fetch was injected (then through it).
  const ranges = p.fetch ? null : createRangeHttp({
    endpoint, token: p.token?.token ?? "", onRetry: (e) => hooks.onRetry?.(e), onBytes: (n) => (bytesRead += n),
    ...(p.retry && { retry: p.retry }), ...(p.sleep && { sleep: p.sleep }), ...(p.timeouts && { timeouts: p.timeouts }), ...(p.signal && { signal: p.signal }),
  });
  const openRange = async (url: string, start: number, end: number): Promise<RangeAnswer> => {
    if (ranges === null) return fetchAnswer(await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}` }, ...(p.signal && { signal: p.signal }) }));
    requests++;
    return ranges.open(url, start, end);
  };
  const ctx = (what: string): AnswerContext => ({ spec, endpoint, tokenFrom: p.token?.source ?? null, what });

  // Pin the revision.
  const revUrl = `${endpoint}/api/models/${spec.repo.full}/revision/${encodeURIComponent(spec.revision)}`;
  const res = await fetch(revUrl, { headers: { Accept: "application/json" } });
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw answerError(res.status, res.headers, ctx("the revision"));
  }
  const info = await readJsonObject(res, revUrl);
  const commit = stringField(info, "sha", answerUrl(res, revUrl));
  if (!COMMIT.test(commit)) throw malformed(answerUrl(res, revUrl), `"sha" is not a commit id`);

  const blockSize = p.blockSize ?? DEFAULT_BLOCK_SIZE;
  const cache = new BlockCache(p.cacheBytes ?? DEFAULT_CACHE_BYTES);
  const inflight = new Map<string, Promise<Uint8Array>>();
  let listing: Promise<StoreEntry[]> | undefined;
  /** Each listed file's size, and what its bytes must hash to when read whole. */
  const listed = new Map<string, { size: number; blob: ListedBlob | undefined }>();

  async function list(): Promise<StoreEntry[]> {
    lastFailure = null;
    let files;
    try {
      files = await listTree({ endpoint, repo: spec.repo, fetch }, commit);
    } catch (e) {
      const failed = lastFailure as { status: number; headers: Headers } | null;
      if (failed !== null && !(e instanceof TruecastError)) throw answerError(failed.status, failed.headers, ctx("the file listing"));
      throw e;
    }
    const out: StoreEntry[] = [];
    for (const f of files) {
      if (f.path.split("/").some((part) => part.startsWith(".") || part === "")) continue;
      out.push({ path: f.path, size: f.lfs?.size ?? f.size, ...(f.lfs && /^[0-9a-f]{64}$/.test(f.lfs.oid) ? { sha256: f.lfs.oid } : {}) });
      listed.set(f.path, { size: f.lfs?.size ?? f.size, blob: listedBlob(f) });
    }
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return out;
  }

  const store: HubStore = {
    label: spec.label,
    remote: true,
    spec,
    endpoint,
    commit,
    list() {
      // One listing for every caller; a failed one is asked again next time.
      listing ??= list().catch((e: unknown) => {
        listing = undefined;
        throw e;
      });
      return listing;
    },
    async open(path): Promise<StoreFile> {
      await store.list();
      const entry = listed.get(path);
      if (entry === undefined) throw new TruecastError("NOT_FOUND", `${spec.label}: no file ${path} in the repo at commit ${commit.slice(0, 12)}`);
      const encoded = path.split("/").map(encodeURIComponent).join("/");
      const url = `${endpoint}/${spec.repo.full}/resolve/${commit}/${encoded}`;
      const { size, blob } = entry;
      return openHubFile({
        path, cache, blockSize, inflight, ...(blob && { blob }),
        target: {
          open: (start, end) => openRange(url, start, end), size, wholeUpTo: blockSize,
          label: `${spec.label}/${path}`,
          answerError: (status, headers) => answerError(status, headers, ctx(path)),
          redact: (text) => redactToken(text, p.token?.token ?? ""),
        },
      });
    },
    stats: (): StoreStats => ({ requests, bytesRead }),
    async close() {
      inflight.clear();
      ranges?.close();
    },
  };
  return store;
}
