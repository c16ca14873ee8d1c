/**
 * `export --dry-run`: the plan of an export, made by the same code as the real run's (prepare.ts) and checked as
 * the real run checks it before its first byte (the output, overlaps, carried files, free space), with nothing
 * written. What a dry run cannot know without reading every tensor value (whether a conversion overflows) or
 * without the Hub's answers to write calls (which files it already stores) is said as such, not guessed.
 */
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, resolve, sep } from "node:path";
import { configName, dtypeSize, isFloatDType, type DType, type FloatDType } from "../dtype/table.js";
import { CONFIG_FILE, readSideFile } from "../formats/side-file.js";
import { serializeIndex } from "../formats/safetensors/index-file.js";
import { isHubSpec } from "../store/hub-spec.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import type { LoraReport } from "../transforms/lora/index.js";
import { checkCarriedPath, type ProtectedPath } from "../util/real-path.js";
import { censusDtypes, configClaims, rewriteConfigDtype } from "./config.js";
import { checkFreeSpaceIn, checkOutputFolder } from "./output-dir.js";
import type { DtypePolicy, PlannedShard } from "./plan.js";
import { prepareExport } from "./prepare.js";
import { REPORT_FILE } from "./small-files.js";

/** One file the export would write. */
export interface DryRunFile {
  /** Name in the output folder (and in the repo with --push). */
  readonly name: string;
  readonly kind: "shard" | "sidecar" | "index" | "config" | "carried" | "model-card" | "report";
  /** Exact size in bytes, or null for a file whose size is known only once written (a generated card, the report). */
  readonly bytes: number | null;
  /** Tensors in a shard or sidecar. */
  readonly tensors?: number;
  /** Tensor bytes of a shard or sidecar (its header excluded). */
  readonly tensorBytes?: number;
  /** Where a carried file comes from (a path, or `hf://org/name@rev/file`), or "generated". */
  readonly origin: string;
  /** config.json: the dtype keys it states now and the value they would be set to (null: left as they are). */
  readonly dtypeKeys?: { readonly before: Readonly<Record<string, unknown>>; readonly after: string | null };
}

/** Every tensor converted from one dtype to another. */
export interface DryRunConversion {
  readonly from: DType;
  readonly to: DType;
  readonly tensors: number;
  /** Bytes read and bytes written. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /**
   * `impossible`: every finite value of `from` is finite in `to`. `refused-if-any`: values beyond `to`'s range would
   * become ±inf; whether any does is known only when the values are read, and then the real run refuses
   * (OVERFLOW) unless --allow-overflow. `allowed`: the same, with --allow-overflow (counted in the report).
   */
  readonly overflow: "impossible" | "refused-if-any" | "allowed";
}

export interface DryRunPlan {
  readonly source: { readonly kind: string; readonly path: string };
  /** The output folder, or null when none was given (a dry run may leave it out). */
  readonly out: string | null;
  /** What is at `out` now: a real run replaces a non-empty folder only with --force. */
  readonly outState: "missing" | "empty-dir" | "non-empty-dir" | null;
  readonly files: readonly DryRunFile[];
  readonly tensorCount: number;
  /** Tensor bytes written (the index's total_size), sidecars included. */
  readonly tensorBytes: number;
  /** Sum of the files whose size is known now. */
  readonly knownBytes: number;
  /** Files whose size is known only once written (not in knownBytes). */
  readonly unknownSize: readonly string[];
  /** Free bytes the real run requires where the output goes (it refuses to start with less). */
  readonly bytesNeeded: number;
  readonly conversions: readonly DryRunConversion[];
  /** What the merge would change: the modules and the adapter tensors routed, before any value is computed. */
  readonly lora: {
    readonly adapter: string;
    readonly routes: number;
    readonly modules: readonly { readonly module: string; readonly baseTensor: string; readonly variant: string; readonly rank: number; readonly alpha: number; readonly scaling: number }[];
  } | null;
  /** The source's own notes (keys renamed, views materialized, files not carried). */
  readonly notes: readonly string[];
}

/** Largest finite value of each floating dtype: a conversion overflows only into a dtype with a smaller one. */
const MAX_FINITE: Record<FloatDType, number> = {
  F16: 65504,
  BF16: 3.3895313892515355e38,
  F32: 3.4028234663852886e38,
  F64: Number.MAX_VALUE,
};

export interface DryRunParams {
  readonly model: SourceModel;
  readonly policy: DtypePolicy;
  readonly out?: string;
  readonly force?: boolean;
  readonly maxShardSize?: number;
  readonly allowOverflow?: boolean;
  /** The user's model card (README.md); absent: a generated one. */
  readonly cardFile?: string;
  readonly baseDir?: string;
  readonly adapter?: string;
  readonly lora?: LoraReport | null;
  readonly protect?: readonly ProtectedPath[];
  /** export --push without --keep-local: shards leave as they are uploaded. */
  readonly shardsLeave?: boolean;
  /** Free bytes where a folder lives (for tests); default statfs. */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

/** Where a carried file comes from, as a person would name it: a remote source's copies by their Hub name. */
function originOf(model: SourceModel, name: string, path: string): string {
  const copies = resolve(tmpdir()) + sep;
  return isHubSpec(model.path) && path.startsWith(copies) ? `${model.path}/${name}` : path;
}

function shardFile(s: PlannedShard, kind: "shard" | "sidecar"): DryRunFile {
  return { name: s.fileName, kind, bytes: s.fileSize, tensors: s.table.count, tensorBytes: s.dataSize, origin: "generated" };
}

/** The nearest folder of `path` (itself or an ancestor) that exists now: where the output's bytes would go. */
async function nearestExisting(path: string): Promise<string> {
  let at = path;
  while (dirname(at) !== at && !(await stat(at).then((s) => s.isDirectory(), () => false))) at = dirname(at);
  return at;
}

/**
 * Plan an export without writing anything: every check the real run makes before its first byte, then the files,
 * conversions and merge it would make. Throws the same TruecastError the real run would throw at those checks.
 */
export async function planDryRun(p: DryRunParams): Promise<DryRunPlan> {
  const { model, policy } = p;
  const prepared = await prepareExport({
    model,
    policy,
    ...(p.maxShardSize ? { maxShardSize: p.maxShardSize } : {}),
    ...(p.cardFile !== undefined ? { cardFile: p.cardFile } : {}),
    ...(p.baseDir !== undefined ? { baseDir: p.baseDir } : {}),
    ...(p.adapter !== undefined ? { adapter: p.adapter } : {}),
    ...(p.protect ? { protect: p.protect } : {}),
    shardsLeave: p.shardsLeave === true,
  });
  const { plan, sidecars } = prepared;
  let outState: DryRunPlan["outState"] = null;
  if (p.out !== undefined) {
    outState = await checkOutputFolder({ out: p.out, force: p.force ?? false, protect: prepared.protect });
    await checkFreeSpaceIn(await nearestExisting(resolve(p.out)), p.out, prepared.needed, p.freeBytes);
  }

  const files: DryRunFile[] = plan.shards.map((s) => shardFile(s, "shard"));
  if (plan.sharded) {
    const index = serializeIndex({ totalSize: plan.totalSize, weightMap: plan.weightMap });
    files.push({ name: "model.safetensors.index.json", kind: "index", bytes: Buffer.byteLength(index, "utf8"), origin: "generated" });
  }
  files.push(...sidecars.map((s) => shardFile(s, "sidecar")));

  // config.json's dtype keys are set from the tensors written, as writeSmallFiles does (from the main shards).
  const census = censusDtypes(plan.shards.flatMap((s) => Array.from({ length: s.table.count }, (_, k) => ({ dtype: s.table.dtype(k), byteLength: s.table.end(k) - s.table.begin(k) }))));
  for (const [name, spelled] of model.files) {
    if (name === "README.md") continue; // the model card takes its place
    const origin = originOf(model, name, spelled);
    if (name === "config.json") {
      const path = await checkCarriedPath(spelled);
      const text = await readSideFile(path, CONFIG_FILE);
      const claims = configClaims(text, spelled);
      const edited = rewriteConfigDtype(text, census.dominant, spelled, !census.mixed);
      files.push({
        name, kind: "config", bytes: Buffer.byteLength(edited, "utf8"), origin,
        dtypeKeys: { before: Object.fromEntries(claims.map((c) => [c.key, c.value])), after: census.dominant ? configName(census.dominant) : null },
      });
    } else {
      files.push({ name, kind: "carried", bytes: (await stat(spelled)).size, origin });
    }
  }
  files.push(
    p.cardFile !== undefined
      ? { name: "README.md", kind: "model-card", bytes: (await stat(p.cardFile)).size, origin: p.cardFile }
      : { name: "README.md", kind: "model-card", bytes: null, origin: "generated" },
  );
  files.push({ name: REPORT_FILE, kind: "report", bytes: null, origin: "generated" });

  const conversions = new Map<string, { from: DType; to: DType; tensors: number; bytesIn: number; bytesOut: number }>();
  const computed = new Set(model.tensors.filter((t) => t.computed !== undefined).map((t) => t.name));
  for (const s of [...plan.shards, ...sidecars]) {
    for (let k = 0; k < s.table.count; k++) {
      const ref = s.sources[k];
      const to = s.table.dtype(k);
      // A merged tensor is computed in float32 and rounded once into its output dtype: no conversion of its own.
      if (!ref || ref.dtype === to || computed.has(ref.name)) continue;
      const key = `${ref.dtype}>${to}`;
      const c = conversions.get(key) ?? { from: ref.dtype, to, tensors: 0, bytesIn: 0, bytesOut: 0 };
      c.tensors++;
      c.bytesIn += ref.byteLength;
      c.bytesOut += (ref.byteLength / dtypeSize(ref.dtype)) * dtypeSize(to);
      conversions.set(key, c);
    }
  }

  const known = files.reduce((n, f) => n + (f.bytes ?? 0), 0);
  const lora = p.lora ?? null;
  return {
    source: { kind: model.kind, path: model.path },
    out: p.out === undefined ? null : resolve(p.out),
    outState,
    files,
    tensorCount: plan.shards.reduce((n, s) => n + s.table.count, 0) + sidecars.reduce((n, s) => n + s.table.count, 0),
    tensorBytes: plan.totalSize + sidecars.reduce((n, s) => n + s.dataSize, 0),
    knownBytes: known,
    unknownSize: files.filter((f) => f.bytes === null).map((f) => f.name),
    bytesNeeded: prepared.needed,
    conversions: [...conversions.values()].map((c) => ({
      ...c,
      overflow: !isFloatDType(c.from) || !isFloatDType(c.to) || MAX_FINITE[c.to] >= MAX_FINITE[c.from] ? "impossible" : p.allowOverflow === true ? "allowed" : "refused-if-any",
    })),
    lora: lora && {
      adapter: lora.adapter,
      routes: lora.routes.length,
      modules: lora.modules.map((m) => ({ module: m.module, baseTensor: m.baseTensor, variant: m.variant, rank: m.rank, alpha: m.alpha, scaling: m.scaling })),
    },
    notes: model.notes,
  };
}
