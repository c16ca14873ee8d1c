/**
 * The audit of an export's source, as `truecast audit` would give it (headers only): a folder or a Hub repo as it
 * is; a single checkpoint file with the companion files beside it that the export carries, and nothing else of its
 * folder. Reads, never writes.
 */
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { openLocalStore } from "../store/local-store.js";
import { isHubSpec } from "../store/hub-spec.js";
import { openStore } from "../store/open-store.js";
import type { ModelStore } from "../store/store.js";
import { auditModel, type AuditResult } from "./audit.js";

export interface SourceAuditParams {
  /** `hf://org/name[@rev]`, or an absolute local path (file or folder). */
  readonly source: string;
  /** For a single file: the names of the companion files carried with it (config.json, tokenizer, ...). */
  readonly companions?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
}

/** `store` listing only the files named in `keep`. */
function only(store: ModelStore, keep: ReadonlySet<string>): ModelStore {
  return {
    label: store.label,
    remote: store.remote,
    list: async () => (await store.list()).filter((e) => keep.has(e.path)),
    open: (path) => store.open(path),
    stats: () => store.stats(),
    close: () => store.close(),
    ...(store.localPath ? { localPath: (path: string) => store.localPath?.(path) ?? path } : {}),
  };
}

/** Audit the source of an export, headers only. */
export async function auditSource(p: SourceAuditParams): Promise<AuditResult> {
  let store: ModelStore;
  if (isHubSpec(p.source)) {
    store = await openStore(p.source, { ...(p.env && { env: p.env }), ...(p.fetch && { fetch: p.fetch }) });
  } else if ((await stat(p.source)).isFile()) {
    store = only(await openLocalStore(dirname(p.source)), new Set([basename(p.source), ...(p.companions ?? [])]));
  } else {
    store = await openLocalStore(p.source);
  }
  try {
    return await auditModel({ store });
  } finally {
    await store.close();
  }
}
