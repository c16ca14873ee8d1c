/**
 * One entry point for every place truecast takes a source: `hf://namespace/name[@revision]` opens a Hub repo read
 * in place (or, with HF_HUB_OFFLINE, its cached snapshot); anything else is a local folder.
 */
import { findToken, resolveEndpoint } from "../hub/token.js";
import type { HubFetchHooks } from "../hub/hub-fetch.js";
import type { RetryPolicy } from "../hub/retry.js";
import { hfEnvironment } from "../sources/base-model-env.js";
import { httpTimeouts, type HttpTimeouts } from "../util/http-guard.js";
import { openCachedHubStore } from "./hub-offline.js";
import { isHubSpec, parseHubSpec } from "./hub-spec.js";
import { openHubStore } from "./hub-store.js";
import { openLocalStore } from "./local-store.js";
import type { ModelStore } from "./store.js";

export interface OpenStoreOptions {
  /**
   * Where HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE and the TRUECAST_HTTP_* limits are read.
   * Default: process.env.
   */
  env?: NodeJS.ProcessEnv;
  /** The underlying fetch (tests inject one). Default: global fetch. */
  fetch?: typeof fetch;
  /** Told of every retry (for progress and reports). */
  hooks?: HubFetchHooks;
  /** Retry policy (tests shorten it). */
  retry?: Partial<RetryPolicy>;
  /** Waits between attempts (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  /** Default: from TRUECAST_HTTP_TIMEOUT_MS / TRUECAST_HTTP_RETRY_BUDGET_MS in `env`. */
  timeouts?: Partial<HttpTimeouts>;
  /** Stops a Hub store's file reads (Ctrl-C). */
  signal?: AbortSignal;
  /** Read-ahead of a short remote read (see hub-store.ts). */
  blockSize?: number;
  cacheBytes?: number;
}

/**
 * Opens `spec` as a store: `hf://namespace/name[@revision]` → the Hub repo pinned to the commit the revision points
 * to now (offline: the cached snapshot); anything else → the local folder.
 */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<ModelStore> {
  if (!isHubSpec(spec)) return openLocalStore(spec);
  const env = options.env ?? process.env;
  const hub = parseHubSpec(spec);
  const hf = hfEnvironment(env);
  if (hf.offline) return openCachedHubStore(hub, hf.cacheDir);
  const endpoint = resolveEndpoint(undefined, env);
  const token = await findToken({ env });
  return openHubStore({
    spec: hub,
    endpoint,
    timeouts: options.timeouts ?? httpTimeouts(env),
    ...(token && { token: { token: token.token, source: token.source === "HF_HOME" ? (token.path ?? "the token file") : token.source } }),
    ...(options.fetch && { fetch: options.fetch }),
    ...(options.hooks && { hooks: options.hooks }),
    ...(options.retry && { retry: options.retry }),
    ...(options.sleep && { sleep: options.sleep }),
    ...(options.signal && { signal: options.signal }),
    ...(options.blockSize !== undefined && { blockSize: options.blockSize }),
    ...(options.cacheBytes !== undefined && { cacheBytes: options.cacheBytes }),
  });
}
