import { summarize, type CastReport } from "../dtype/cast.js";
import type { DType, FloatDType } from "../dtype/table.js";
import type { DtypeCensus } from "./config.js";
import type { DtypePolicy, ExportPlan } from "./plan.js";
import type { WrittenTensor } from "./write-shard.js";
import type { Provenance } from "./provenance.js";
import type { SourceFileDigest } from "./source-digests.js";

/** Every conversion of one (from → to) pair, combined: counts added, maxima taken. */
export interface ConversionSummary extends CastReport {
  readonly tensors: number;
}

export interface ExportReport {
  readonly source: { readonly path: string; readonly kind: string; readonly notes: readonly string[] };
  /**
   * Every source weight file (the source's, a merged adapter's, a base model's) with its size and SHA-256, named
   * relative to its input. Added in schemaVersion 1 (a new field, compatible).
   */
  readonly sourceFiles: readonly SourceFileDigest[];
  /** The output folder; null when a `--push` export kept no local copy. */
  readonly out: string | null;
  readonly policy: DtypePolicy;
  /** The floating dtype holding most written bytes (config.json's value), or null. */
  readonly dtype: FloatDType | null;
  readonly mixedDtypes: boolean;
  readonly bytesByDtype: Readonly<Record<string, number>>;
  readonly sourceBytesByDtype: Readonly<Record<string, number>>;
  readonly shards: readonly { readonly file: string; readonly bytes: number; readonly tensors: number }[];
  readonly indexFile: string | null;
  /** Sum of tensor bytes. */
  readonly totalSize: number;
  readonly tensorCount: number;
  /** Tensors copied byte for byte from the source, proven by hash after re-reading. */
  readonly bitExact: number;
  /** Tensors whose bytes were computed (LoRA merge), verified by hash after re-reading. */
  readonly computed: number;
  /** Per (from → to) pair. */
  readonly conversions: readonly ConversionSummary[];
  readonly config: null | { readonly before: Readonly<Record<string, unknown>>; readonly after: string | null };
  /** Every file of the output folder besides the shards and the index. */
  readonly files: readonly string[];
  readonly tensors: readonly WrittenTensor[];
  readonly verified: { readonly tensors: number; readonly bytes: number };
  readonly seconds: number;
  /** Version, date, options (no local paths), source and corrections: what the card's Provenance section says. */
  readonly provenance: Provenance;
  /** What the export did besides writing the model (stale staging folders of dead runs removed), one line each. */
  readonly notes: readonly string[];
}

/** Conversions grouped per (from → to) pair. */
export function conversionSummaries(written: readonly WrittenTensor[]): ConversionSummary[] {
  const pairs = new Map<string, CastReport[]>();
  for (const w of written) {
    if (!w.cast) continue;
    const key = `${w.sourceDtype}>${w.dtype}`;
    const list = pairs.get(key) ?? [];
    list.push(w.cast);
    pairs.set(key, list);
  }
  return [...pairs.values()].map((reports) => {
    const { pairs: _pairs, ...sum } = summarize(reports);
    const first = reports[0] as CastReport;
    return { ...sum, from: first.from, to: first.to, tensors: reports.length };
  });
}

function record(m: ReadonlyMap<DType, number>): Record<string, number> {
  return Object.fromEntries(m);
}

/** Assemble the export report from the plan, what was written and verified, and config.json's before/after. */
export function buildReport(p: {
  model: { path: string; kind: string; notes: readonly string[] };
  out: string | null;
  policy: DtypePolicy;
  plan: ExportPlan;
  census: DtypeCensus;
  sourceCensus: DtypeCensus;
  written: readonly WrittenTensor[];
  config: ExportReport["config"];
  files: readonly string[];
  verified: { tensors: number; bytes: number };
  seconds: number;
  provenance: Provenance;
  sourceFiles?: readonly SourceFileDigest[];
  notes?: readonly string[];
}): ExportReport {
  return {
    source: { path: p.model.path, kind: p.model.kind, notes: p.model.notes },
    sourceFiles: p.sourceFiles ?? [],
    out: p.out,
    policy: p.policy,
    dtype: p.census.dominant,
    mixedDtypes: p.census.mixed,
    bytesByDtype: record(p.census.bytesByDtype),
    sourceBytesByDtype: record(p.sourceCensus.bytesByDtype),
    shards: p.plan.shards.map((s) => ({ file: s.fileName, bytes: s.fileSize, tensors: s.tensors.length })),
    indexFile: p.plan.sharded ? "model.safetensors.index.json" : null,
    totalSize: p.plan.totalSize,
    tensorCount: p.written.length,
    bitExact: p.written.filter((w) => !w.cast && !w.computed).length,
    computed: p.written.filter((w) => w.computed).length,
    conversions: conversionSummaries(p.written),
    config: p.config,
    files: p.files,
    tensors: p.written,
    verified: p.verified,
    seconds: p.seconds,
    provenance: p.provenance,
    notes: p.notes ?? [],
  };
}
