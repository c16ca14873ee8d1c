/**
 * `--base`: the base model supplies the files a source lacks to be loadable (config.json, tokenizer, generation
 * config and the other small files of a model folder), for every kind of source. The source's own files win, a
 * tokenizer is taken whole or not at all, and a `--base` that adds nothing is a usage error, not silently ignored.
 */
import { TruecastError } from "../errors.js";
import { resolveBaseModelFiles } from "../sources/base-model.js";
import { ALL_TOKENIZER_FILES, COMPANION_FILES } from "../sources/companion-files.js";
import { scanModelFiles } from "../sources/model-files.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import type { BaseRef } from "./preflight.js";

export interface FillFromBaseParams {
  readonly model: SourceModel;
  readonly base: BaseRef;
  /** The source used `--base` itself (an H2O experiment's files or quantized base weights): adding nothing is fine. */
  readonly usedBySource?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
}

/** Never taken from a base model: its card describes the base, not this export. */
const NOT_FROM_BASE = new Set(["README.md"]);

function describe(base: BaseRef): string {
  return "dir" in base ? base.dir : base.modelId;
}

/** The files the base offers (name → path): a folder's small files, or a Hub model's companions via the cache/Hub. */
async function offered(p: FillFromBaseParams, missing: (name: string) => boolean): Promise<{ files: Map<string, string>; notes: string[] }> {
  if ("dir" in p.base) {
    const scan = await scanModelFiles(p.base.dir);
    return { files: new Map([...scan.files].filter(([n]) => missing(n))), notes: [] };
  }
  const want = COMPANION_FILES.filter(missing);
  if (want.length === 0) return { files: new Map(), notes: [] };
  const r = await resolveBaseModelFiles({
    modelId: p.base.modelId,
    want: [...want],
    required: want.includes("config.json") ? ["config.json"] : [],
    ...(p.env === undefined ? {} : { env: p.env }),
    ...(p.fetch === undefined ? {} : { fetch: p.fetch }),
  });
  return { files: r.files, notes: r.notes };
}

/**
 * The model with the base's files added where it has none of its own; the report's notes say which came from the
 * base. Throws USAGE when the base would add nothing and the source did not use it otherwise.
 */
export async function fillFromBase(p: FillFromBaseParams): Promise<SourceModel> {
  const own = p.model.files;
  const hasTokenizer = ALL_TOKENIZER_FILES.some((n) => own.has(n));
  const missing = (name: string) => !own.has(name) && !NOT_FROM_BASE.has(name) && !(hasTokenizer && ALL_TOKENIZER_FILES.includes(name));
  const { files, notes } = await offered(p, missing);
  if (files.size === 0) {
    if (p.usedBySource) return p.model;
    throw new TruecastError(
      "USAGE",
      `--base ${describe(p.base)} adds nothing: ${p.model.path} already has ${own.has("config.json") ? "config.json" : "every file"}${hasTokenizer ? ", a tokenizer" : ""} and the base offers no other file it lacks; leave out --base`,
    );
  }
  const taken = [...files.keys()].sort();
  const from = "dir" in p.base ? `--base ${p.base.dir}` : `--base ${p.base.modelId}`;
  return {
    ...p.model,
    files: new Map([...own, ...files]),
    notes: [...p.model.notes, ...notes, `from the base model (${from}): ${taken.join(", ")}`],
    ...(p.model.baseModel === undefined && "modelId" in p.base ? { baseModel: p.base.modelId } : {}),
  };
}
