/**
 * The report page's data as the page's script reads it: one JSON document, column by column (a 100k-tensor page
 * stays a few MB), with repeated words interned, non-finite numbers spelled as strings, and the text escaped so
 * that it can sit inside `<script type="application/json">` whatever the tensor names and messages hold.
 */
import { chartSeries, jsonMetric, type ChartSeries, type JsonMetric } from "./chart-data.js";
import type { Finding, ReportPage, Severity, TensorGroup } from "./page-data.js";

/** Bumped when the page's script must read the JSON differently. */
export const PAGE_JSON_VERSION = 1;

/** Severity ranks, also the order the page sorts and filters them in: ok < info < warning < error. */
export const SEVERITY_RANK: Readonly<Record<Severity | "ok", number>> = { ok: 0, info: 1, warning: 2, error: 3 };

/** The columns of the tensor table; `group`, `dtype` and `status` index into the word lists beside them. */
export interface PageJsonRows {
  readonly count: number;
  readonly name: readonly string[];
  readonly layer: readonly (number | null)[];
  readonly groups: readonly TensorGroup[];
  readonly group: readonly number[];
  readonly dtypes: readonly string[];
  readonly dtype: readonly number[];
  /** `4096×11008`, `scalar` for a 0-d tensor. */
  readonly shape: readonly string[];
  /** Elements per tensor, what the shape column sorts by (null when the product is not a safe integer). */
  readonly numel: readonly (number | null)[];
  readonly statuses: readonly string[];
  readonly status: readonly number[];
  /** {@link SEVERITY_RANK}. */
  readonly severity: readonly number[];
  /** The metric names, in order of first appearance, and one column of values per name. */
  readonly metricNames: readonly string[];
  readonly metrics: readonly (readonly JsonMetric[])[];
}

export interface PageJson {
  readonly version: number;
  readonly kind: ReportPage["kind"];
  readonly title: string;
  readonly verdict: { readonly severity: number; readonly text: string };
  readonly facts: readonly { readonly label: string; readonly value: string }[];
  readonly findings: readonly { readonly severity: number; readonly code: string; readonly message: string; readonly action: string | null; readonly tensors: readonly string[]; readonly files: readonly string[] }[];
  readonly rows: PageJsonRows;
  readonly charts: ChartSeries;
  readonly generator: string;
  readonly date: string;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
}

function rank(s: unknown): number {
  return typeof s === "string" && Object.hasOwn(SEVERITY_RANK, s) ? SEVERITY_RANK[s as Severity] : SEVERITY_RANK.info;
}

class Interner<T extends string> {
  readonly words: T[] = [];
  private readonly index = new Map<T, number>();
  of(word: T): number {
    let i = this.index.get(word);
    if (i === undefined) {
      i = this.words.length;
      this.words.push(word);
      this.index.set(word, i);
    }
    return i;
  }
}

function shapeText(shape: readonly number[]): { shape: string; numel: number | null } {
  if (!Array.isArray(shape) || shape.length === 0) return { shape: "scalar", numel: 1 };
  let numel = 1;
  for (const d of shape) numel *= typeof d === "number" ? d : NaN;
  return { shape: shape.map(text).join("×"), numel: Number.isSafeInteger(numel) ? numel : null };
}

function finding(f: Finding): PageJson["findings"][number] {
  return {
    severity: rank(f.severity),
    code: text(f.code),
    message: text(f.message),
    action: f.action === undefined ? null : text(f.action),
    tensors: (f.tensors ?? []).map(text),
    files: (f.files ?? []).map(text),
  };
}

/** The page's data, column by column (see {@link PageJson}). */
export function pageJson(page: ReportPage): PageJson {
  const groups = new Interner<TensorGroup>();
  const dtypes = new Interner<string>();
  const statuses = new Interner<string>();
  const metricNames = new Interner<string>();
  for (const row of page.tensors) for (const key of Object.keys(row.metrics ?? {})) metricNames.of(key);
  const n = page.tensors.length;
  const rows = {
    count: n,
    name: new Array<string>(n),
    layer: new Array<number | null>(n),
    group: new Array<number>(n),
    dtype: new Array<number>(n),
    shape: new Array<string>(n),
    numel: new Array<number | null>(n),
    status: new Array<number>(n),
    severity: new Array<number>(n),
    metrics: metricNames.words.map(() => new Array<JsonMetric>(n)),
  };
  page.tensors.forEach((row, i) => {
    rows.name[i] = text(row.name);
    rows.layer[i] = typeof row.layer === "number" && Number.isFinite(row.layer) ? row.layer : null;
    rows.group[i] = groups.of(row.group);
    rows.dtype[i] = dtypes.of(text(row.dtype));
    const s = shapeText(row.shape);
    rows.shape[i] = s.shape;
    rows.numel[i] = s.numel;
    rows.status[i] = statuses.of(text(row.status));
    rows.severity[i] = row.severity === "ok" ? 0 : rank(row.severity);
    metricNames.words.forEach((key, m) => {
      (rows.metrics[m] as JsonMetric[])[i] = jsonMetric(Object.hasOwn(row.metrics ?? {}, key) ? row.metrics[key] : null);
    });
  });
  return {
    version: PAGE_JSON_VERSION,
    kind: page.kind,
    title: text(page.title),
    verdict: { severity: page.verdict.severity === "ok" ? 0 : rank(page.verdict.severity), text: text(page.verdict.text) },
    facts: page.facts.map((f) => ({ label: text(f.label), value: text(f.value) })),
    findings: page.findings.map(finding),
    rows: { ...rows, groups: groups.words, dtypes: dtypes.words, statuses: statuses.words, metricNames: metricNames.words },
    charts: chartSeries(page.tensors),
    generator: text(page.generator),
    date: text(page.date),
  };
}

/**
 * JSON text that is safe between `<script type="application/json">` and `</script>`: `<`, `>` and `&` (so no
 * `</script>`, `<!--` or entity can appear) and U+2028/U+2029 are written as `\uXXXX` escapes, which JSON.parse
 * reads back as the same characters. They can only occur inside JSON strings, so the escaping changes no value.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
