/**
 * What the report page's charts draw: per transformer block and per kind of weight, how many tensors have an
 * error, a warning or a note, and each metric of the tensor rows aggregated (counts summed, maxima and shares
 * maximised). Computed here, where it can be tested, so that the page's script only draws.
 */
import type { Severity, TensorGroup, TensorRow } from "./page-data.js";

/** A metric value in the page's JSON: a finite number, null, or one of the three strings JSON has no number for. */
export type JsonMetric = number | null | "Infinity" | "-Infinity" | "NaN";

/** A metric as JSON can hold it. */
export function jsonMetric(v: unknown): JsonMetric {
  if (typeof v !== "number") return null;
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}

/** The groups in the order the charts show them. */
export const GROUP_ORDER: readonly TensorGroup[] = ["embeddings", "q", "k", "v", "qkv", "o", "mlp", "norm", "head", "other"];

/** Metrics shown first in the chart's metric menu (the first one present is drawn when the page opens). */
export const PREFERRED_METRICS: readonly string[] = ["toInfinity", "inf", "nan", "toZero", "elementsChanged", "maxAbsError", "maxRelError", "maxUlp", "subnormalShare", "zeroShare"];

/** How a metric's values add up over the tensors of a bar: a sum for counts, the largest for maxima and shares. */
export function aggregateOf(metric: string): "sum" | "max" {
  return /^max|share$|Share$|ratio$|Ratio$/.test(metric) ? "max" : "sum";
}

export interface ChartMetric {
  readonly name: string;
  readonly aggregate: "sum" | "max";
  /** One value per entry of {@link ChartSeries.layers}; null where no tensor of the bar has a number. */
  readonly byLayer: readonly JsonMetric[];
  /** One value per entry of {@link ChartSeries.groups}. */
  readonly byGroup: readonly JsonMetric[];
}

/** Tensors per bar by severity: `[error, warning, info, total]`. */
export type SeverityCounts = readonly [number, number, number, number];

/** Bars per block chart at most: beyond it, consecutive blocks share a bar (`0–87`), so the chart stays legible and small. */
export const MAX_LAYER_BARS = 128;

export interface ChartSeries {
  /**
   * The bars of the per-block charts: the block indices present, ascending (`12`, or a range `0–87` when there are
   * more than {@link MAX_LAYER_BARS} blocks), then `none` for the tensors outside the blocks (if any).
   */
  readonly layers: readonly string[];
  /** The groups present, in {@link GROUP_ORDER}. */
  readonly groups: readonly TensorGroup[];
  readonly severityByLayer: readonly SeverityCounts[];
  readonly severityByGroup: readonly SeverityCounts[];
  /** Every metric of the rows: {@link PREFERRED_METRICS} first (those present), then the rest in order of appearance. */
  readonly metrics: readonly ChartMetric[];
}

class Accumulator {
  private value: number | null = null;
  constructor(private readonly aggregate: "sum" | "max") {}
  add(v: number | null | undefined): void {
    if (typeof v !== "number" || Number.isNaN(v)) return;
    if (this.value === null) this.value = v;
    else this.value = this.aggregate === "sum" ? this.value + v : Math.max(this.value, v);
    // Infinity + -Infinity: a sum of both signs of overflow is still an overflow count worth showing as infinite.
    if (Number.isNaN(this.value)) this.value = Infinity;
  }
  get result(): JsonMetric {
    return jsonMetric(this.value);
  }
}

const SEVERITY_SLOT: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };

function groupKey(g: unknown): TensorGroup {
  return typeof g === "string" && (GROUP_ORDER as readonly string[]).includes(g) ? (g as TensorGroup) : "other";
}

function layerKey(l: unknown): number | null {
  return typeof l === "number" && Number.isFinite(l) ? l : null;
}

/** The charts' series for a page's tensor rows. */
export function chartSeries(rows: readonly TensorRow[]): ChartSeries {
  const layerSet = new Set<number | null>();
  const groupSet = new Set<TensorGroup>();
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    layerSet.add(layerKey(row.layer));
    groupSet.add(groupKey(row.group));
    for (const k of Object.keys(row.metrics ?? {})) if (!seen.has(k)) (seen.add(k), names.push(k));
  }
  const numbered = [...layerSet].filter((l): l is number => l !== null).sort((a, b) => a - b);
  const perBar = Math.max(1, Math.ceil(numbered.length / MAX_LAYER_BARS));
  const layers: string[] = [];
  const layerIndex = new Map<number | null, number>();
  for (let i = 0; i < numbered.length; i += perBar) {
    const bin = numbered.slice(i, i + perBar);
    for (const l of bin) layerIndex.set(l, layers.length);
    layers.push(bin.length === 1 ? String(bin[0]) : `${bin[0]}–${bin[bin.length - 1]}`);
  }
  if (layerSet.has(null)) (layerIndex.set(null, layers.length), layers.push("none"));
  const groups = GROUP_ORDER.filter((g) => groupSet.has(g));
  const groupIndex = new Map(groups.map((g, i) => [g, i]));
  const ordered = [...PREFERRED_METRICS.filter((m) => seen.has(m)), ...names.filter((m) => !PREFERRED_METRICS.includes(m))];
  const severityByLayer = layers.map(() => [0, 0, 0, 0]);
  const severityByGroup = groups.map(() => [0, 0, 0, 0]);
  const acc = ordered.map((name) => ({
    name,
    byLayer: layers.map(() => new Accumulator(aggregateOf(name))),
    byGroup: groups.map(() => new Accumulator(aggregateOf(name))),
  }));
  for (const row of rows) {
    const li = layerIndex.get(layerKey(row.layer)) ?? 0;
    const gi = groupIndex.get(groupKey(row.group)) ?? 0;
    const slot = row.severity === "ok" ? undefined : SEVERITY_SLOT[row.severity];
    for (const counts of [severityByLayer[li], severityByGroup[gi]]) {
      if (counts === undefined) continue;
      if (slot !== undefined) counts[slot] = (counts[slot] ?? 0) + 1;
      counts[3] = (counts[3] ?? 0) + 1;
    }
    for (const a of acc) {
      const v = Object.hasOwn(row.metrics ?? {}, a.name) ? row.metrics[a.name] : null;
      a.byLayer[li]?.add(v);
      a.byGroup[gi]?.add(v);
    }
  }
  return {
    layers,
    groups,
    severityByLayer: severityByLayer as unknown as SeverityCounts[],
    severityByGroup: severityByGroup as unknown as SeverityCounts[],
    metrics: acc.map((a) => ({ name: a.name, aggregate: aggregateOf(a.name), byLayer: a.byLayer.map((x) => x.result), byGroup: a.byGroup.map((x) => x.result) })),
  };
}
