/**
 * Where an exported model came from, for the model card and `truecast-report.json`: truecast's version, the date,
 * the options, the source, and what truecast corrected. Local paths never appear: a published card must not reveal
 * `/home/alice/secret-client-x/lora`, so a path is named by its last component, and a Hub id as itself.
 */
import { homedir } from "node:os";
import { basename, resolve } from "node:path";
import { hfEnvironment } from "../sources/base-model-env.js";
import { isHubSpec } from "../store/hub-spec.js";
import { isInside } from "../util/real-path.js";
import { truecastVersion } from "../version.js";

export interface Correction {
  readonly file: string;
  readonly key: string;
  /** The value before (undefined when the key was missing). */
  readonly from?: unknown;
  readonly to: unknown;
}

export interface Provenance {
  readonly tool: "truecast";
  readonly version: string;
  /** ISO 8601, UTC. */
  readonly date: string;
  readonly command: string;
  /** The options given, in the CLI's spelling; paths by their folder or file name only. */
  readonly options: Readonly<Record<string, string | number | boolean>>;
  readonly source: { readonly kind: string; readonly name: string };
  /** What truecast changed in the files it carried (config.json's dtype keys). */
  readonly corrections: readonly Correction[];
}

/** A Hub id (`org/name` or `name`), as opposed to a local path. */
export function looksLikeHubId(s: string): boolean {
  return /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(s) && !s.startsWith(".") && !s.includes("..");
}

/** How a path or Hub id may appear in a published file: a Hub id as itself, a local path by its last component. */
export function publicName(pathOrId: string): string {
  if (isHubSpec(pathOrId)) return pathOrId;
  if (looksLikeHubId(pathOrId) && pathOrId.includes("/") && !pathOrId.startsWith("/")) return pathOrId;
  const trimmed = pathOrId.replace(/[\\/]+$/, "");
  return basename(trimmed) || trimmed;
}

/** config.json's dtype keys before and after, as corrections (only the keys that changed or were added). */
export function configCorrections(config: { before: Readonly<Record<string, unknown>>; after: string | null } | null): Correction[] {
  if (!config || config.after === null) return [];
  const out: Correction[] = [];
  for (const key of ["torch_dtype", "dtype"]) {
    const had = Object.prototype.hasOwnProperty.call(config.before, key);
    const from = config.before[key];
    if (had && from === config.after) continue;
    out.push({ file: "config.json", key, ...(had ? { from } : {}), to: config.after });
  }
  return out;
}

/** The provenance record of one run. `now` is the clock (tests pass their own). */
export function makeProvenance(p: {
  command: string;
  options: Readonly<Record<string, string | number | boolean | undefined>>;
  source: { kind: string; path: string };
  corrections: readonly Correction[];
  now?: Date;
}): Provenance {
  const options: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(p.options)) if (v !== undefined) options[k] = v;
  return {
    tool: "truecast",
    version: truecastVersion(),
    date: (p.now ?? new Date()).toISOString(),
    command: p.command,
    options,
    source: { kind: p.source.kind, name: publicName(p.source.path) },
    corrections: [...p.corrections],
  };
}

/**
 * The Hugging Face cache folder `env` names, as a root for {@link scrubPaths} (the report's notes say which cache
 * snapshot supplied files), unless it is under the home folder, which scrubPaths names `~` anyway.
 */
export function hubCacheRoot(env: NodeJS.ProcessEnv | undefined): string | undefined {
  const dir = resolve(hfEnvironment(env ?? process.env).cacheDir);
  return isInside(dir, resolve(homedir())) ? undefined : dir;
}

/**
 * A copy of `value` in which every string naming a path under one of `roots` names it from the root's public name
 * on (`/home/alice/secret-client-x/lora/adapter_model.safetensors` → `lora/adapter_model.safetensors`), and any
 * other path under the home folder starts with `~`: for reports that leave the machine.
 */
export function scrubPaths<T>(value: T, roots: readonly string[]): T {
  const pairs = [...new Set(roots.map((r) => resolve(r).replace(/[\\/]+$/, "")))]
    .filter((r) => r.length > 1)
    .sort((a, b) => b.length - a.length)
    .map((r) => [r, publicName(r)] as const);
  const home = homedir().replace(/[\\/]+$/, "");
  if (home.length > 1) pairs.push([home, "~"]);
  const fix = (s: string): string => {
    let out = s;
    for (const [root, name] of pairs) out = out.split(root).join(name);
    return out;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === "string") return fix(v);
    if (depth > 64 || typeof v !== "object" || v === null) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[fix(k)] = walk(x, depth + 1);
    return out;
  };
  return walk(value, 0) as T;
}
