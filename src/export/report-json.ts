/**
 * Reports as JSON: `--json` on stdout and `truecast-report.json` in the output. One dtype spelling throughout
 * (torch's: `bfloat16`, `int64`), a schema version, and infinite errors written as the string "Infinity" (which
 * JSON cannot hold as a number and which both JavaScript's Number() and Python's float() read back).
 */
import { dtypeLabel, isDType } from "../dtype/table.js";

/**
 * Bumped when a field changes meaning or disappears; new fields do not bump it. Added within version 1:
 * `sourceFiles` (the export's source weight files: `{ name, bytes, sha256, role }`, `name` relative to its input,
 * `role` one of `source`, `adapter`, `base`, and `fromCache: true` when the digest came from the digest cache; see export/source-digests.ts); the objects `export --dry-run --json`
 * and `publish --dry-run --json` print, told apart by `dryRun: true` (see cli/dry-run-json.ts).
 */
export const REPORT_SCHEMA_VERSION = 1;

/** Keys whose string values name a dtype. */
const DTYPE_KEYS = new Set(["dtype", "sourceDtype", "from", "to", "inputDtype", "outputDtype", "policy", "computeDtype", "dtypeA", "dtypeB", "ulpDtype"]);
/** Keys whose object values are keyed by dtype. */
const DTYPE_MAPS = new Set(["bytesByDtype", "sourceBytesByDtype", "parametersByDtype"]);

function relabel(value: unknown, key: string, depth: number): unknown {
  if (depth > 64) return value;
  if (typeof value === "string") return DTYPE_KEYS.has(key) && isDType(value) ? dtypeLabel(value) : value;
  if (typeof value === "number") {
    if (value === Infinity) return "Infinity";
    if (value === -Infinity) return "-Infinity";
    if (Number.isNaN(value)) return "NaN";
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => relabel(v, key, depth + 1));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    const byDtype = DTYPE_MAPS.has(key);
    for (const [k, v] of Object.entries(value)) out[byDtype && isDType(k) ? dtypeLabel(k) : k] = relabel(v, k, depth + 1);
    return out;
  }
  return value;
}

/** The report as JSON text (indent 2, final newline), with `schemaVersion` first. */
export function reportJson(report: object): string {
  return JSON.stringify({ schemaVersion: REPORT_SCHEMA_VERSION, ...(relabel(report, "", 0) as object) }, null, 2) + "\n";
}

/** Text handed to `write` at a time, so that a report of a million tensors never becomes one string. */
const WRITE_CHUNK = 1 << 20;

/**
 * {@link reportJson}, written piece by piece: the report's `tensors` array (which can hold a million entries) is
 * relabelled and serialized one entry at a time and handed to `write` in chunks of about 1 MB. The text is the same
 * JSON as reportJson gives, with `tensors` as the last member.
 */
export async function writeReportJson(report: { readonly tensors?: readonly object[]; readonly [key: string]: unknown }, write: (text: string) => unknown): Promise<void> {
  let pending = "";
  await streamReport(report, {
    add: (text) => void (pending += text),
    size: () => pending.length,
    flush: async () => {
      const text = pending;
      pending = "";
      await write(text);
    },
  });
}

/**
 * {@link writeReportJson} as UTF-8 bytes, each entry encoded into a reused 1 MB buffer as soon as it is made: a
 * million entries leave no strings behind to pile up in the heap (for the report file). `write` must be done with
 * the buffer when its promise settles.
 */
export async function writeReportJsonBytes(report: { readonly tensors?: readonly object[]; readonly [key: string]: unknown }, write: (bytes: Uint8Array) => unknown): Promise<void> {
  let buf = Buffer.allocUnsafe(WRITE_CHUNK);
  let used = 0;
  await streamReport(report, {
    add: (text) => {
      const need = Buffer.byteLength(text, "utf8");
      if (used + need > buf.length) {
        const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, used + need));
        buf.copy(grown, 0, 0, used);
        buf = grown;
      }
      used += buf.write(text, used, "utf8");
    },
    size: () => used,
    flush: async () => {
      const n = used;
      used = 0;
      if (n > 0) await write(buf.subarray(0, n));
    },
  });
}

interface ReportSink {
  add(text: string): void;
  size(): number;
  flush(): Promise<void>;
}

async function streamReport(report: { readonly tensors?: readonly object[]; readonly [key: string]: unknown }, sink: ReportSink): Promise<void> {
  const { tensors, ...rest } = report;
  const head = reportJson(rest).replace(/\n}\n$/, "");
  if (tensors === undefined) {
    sink.add(head + "\n}\n");
    await sink.flush();
    return;
  }
  sink.add(head + (head.endsWith("{") ? "\n" : ",\n") + '  "tensors": [');
  for (let i = 0; i < tensors.length; i++) {
    const entry = JSON.stringify(relabel(tensors[i], "tensors", 1), null, 2).replace(/\n/g, "\n    ");
    sink.add((i === 0 ? "\n    " : ",\n    ") + entry);
    if (sink.size() >= WRITE_CHUNK) await sink.flush();
  }
  sink.add(tensors.length > 0 ? "\n  ]\n}\n" : "]\n}\n");
  await sink.flush();
}
