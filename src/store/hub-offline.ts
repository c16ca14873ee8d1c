/**
 * `HF_HUB_OFFLINE=1`: no network at all. An `hf://` source is read from the local Hugging Face cache snapshot of
 * that revision (`<cache>/models--org--name/snapshots/<commit>/`, the commit found from `refs/<revision>` or given),
 * as huggingface_hub does offline, or refused with one line when the cache has none.
 */
import { join } from "node:path";
import { TruecastError } from "../errors.js";
import { cachedCommit, isDir, repoFolder } from "../sources/base-model-cache.js";
import { openLocalStore } from "./local-store.js";
import type { HubSpec } from "./hub-spec.js";
import type { ModelStore } from "./store.js";

/** A cache snapshot read as a store, with what it stands for. */
export interface CachedHubStore extends ModelStore {
  readonly remote: false;
  readonly spec: HubSpec;
  readonly commit: string;
  /** The snapshot folder read. */
  readonly dir: string;
}

/** The cached snapshot of `spec` in `cacheDir` as a store; HUB_OFFLINE when the cache has none. */
export async function openCachedHubStore(spec: HubSpec, cacheDir: string): Promise<CachedHubStore> {
  const folder = repoFolder(cacheDir, spec.repo.full);
  let commit: string | null = null;
  try {
    commit = await cachedCommit(folder, spec.revision);
  } catch {
    commit = null;
  }
  const dir = commit === null ? null : join(folder, "snapshots", commit);
  if (commit === null || dir === null || !(await isDir(dir))) {
    throw new TruecastError("HUB_OFFLINE", `HF_HUB_OFFLINE is set and the Hugging Face cache ${cacheDir} has no snapshot of ${spec.repo.full} at ${spec.revision}; unset HF_HUB_OFFLINE to read it from the Hub, or download it first (huggingface-cli download ${spec.repo.full} --revision ${spec.revision})`);
  }
  const local = await openLocalStore(dir);
  return { ...local, label: spec.label, remote: false, spec, commit, dir };
}
