/**
 * `truecast audit` for a person: the verdict on top, then the findings grouped by severity (each with the tensors
 * or files it names and what to do), then what was read. Every line goes through terminal-text.ts: tensor names,
 * file names and pickle globals are written by whoever made the model.
 */
import type { AuditResult } from "../audit/audit.js";
import type { Finding, Severity } from "../report/page-data.js";
import { formatBytes } from "../export/units.js";
import { terminalLines } from "./terminal-text.js";

/** Tensor names shown per finding (--json lists every one). */
const NAMES_SHOWN = 5;

const HEADINGS: Readonly<Record<Severity, string>> = { error: "errors", warning: "warnings", info: "notes" };

function findingLines(f: Finding): string[] {
  const lines = [`  ${f.code}: ${f.message}`];
  const tensors = f.tensors ?? [];
  if (tensors.length > 0) {
    const more = tensors.length > NAMES_SHOWN ? ` … and ${tensors.length - NAMES_SHOWN} more (--json lists them)` : "";
    lines.push(`    tensors: ${tensors.slice(0, NAMES_SHOWN).join(", ")}${more}`);
  }
  if (f.files && f.files.length > 0) lines.push(`    files: ${f.files.join(", ")}`);
  if (f.action) lines.push(`    → ${f.action}`);
  return lines;
}

/** The human report of an audit. */
export function formatAudit(r: AuditResult): string {
  const mark = r.verdict.severity === "error" ? "FAIL" : r.verdict.severity === "warning" ? "PASS (with warnings)" : "PASS";
  const lines = [`${mark}: ${r.source}: ${r.verdict.text}`];
  for (const severity of ["error", "warning", "info"] as const) {
    const group = r.findings.filter((f) => f.severity === severity);
    if (group.length === 0) continue;
    lines.push("", `${HEADINGS[severity]} (${group.length}):`);
    for (const f of group) lines.push(...findingLines(f));
  }
  const loaded = r.tensors.filter((t) => t.loaded);
  const bytes = loaded.reduce((n, t) => n + t.bytes, 0);
  lines.push("");
  lines.push(
    `read: ${r.files.length} weight file${r.files.length === 1 ? "" : "s"} (${r.loadedFormat ?? "none"} loaded), ${loaded.length} tensor${loaded.length === 1 ? "" : "s"}, ${formatBytes(bytes)}` +
      `${r.valuesScanned ? ", every floating value scanned" : ", headers only"}${r.remote ? ` · ${r.requests} requests, ${formatBytes(r.bytesRead)} fetched` : ""}`,
  );
  return terminalLines(lines);
}
