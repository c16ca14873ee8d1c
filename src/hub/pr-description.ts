/**
 * The description of `export --push`'s commit (the pull request's description with `--create-pr`), in Markdown:
 * the precision report (tensors bit-exact, conversions with their loss, the dtype), the SHA-256 of the source files
 * and of the files written, the weight files the commit deletes, and the audit's findings on the source before and
 * on the written files after. Bounded: long lists end in "and N more", every line is capped, and the whole stays
 * under MAX_DESCRIPTION_CHARS (the Hub limits descriptions). Names are untrusted (tensor and file names come from the
 * source, file names from the Hub): they show as written, in inline code or escaped, never as Markdown or HTML.
 */
import type { Finding } from "../report/page-data.js";

/** The most characters a description may have; the Hub refuses much longer ones, ~60 KB is well inside. */
export const MAX_DESCRIPTION_CHARS = 60_000;
/** Rows listed per list (files, findings) before "and N more". */
export const MAX_LIST_ROWS = 40;
/** Characters kept of one finding's message. */
const MAX_LINE_CHARS = 400;

/** One audit, as the description shows it; `skipped` says why there is none. */
export type AuditSummary =
  | { readonly verdict: string; readonly findings: readonly Finding[] }
  | { readonly skipped: string };

export interface DescriptionParams {
  /** How the source is named (`hf://acme/model@main`, a folder's name): never a local path. */
  readonly source: string;
  readonly sourceKind: string;
  readonly tensorCount: number;
  readonly bitExact: number;
  /** Tensors computed (a LoRA merge), verified by hash. */
  readonly computed: number;
  /** config.json's dtype of the output, or null. */
  readonly dtype: string | null;
  /** One line per conversion (from → to, tensors, values changed, loss); empty when nothing was converted. */
  readonly conversions: readonly string[];
  readonly sourceFiles: readonly { readonly name: string; readonly bytes: number; readonly sha256: string }[];
  /** The files of the commit, as uploaded. */
  readonly written: readonly { readonly path: string; readonly size: number; readonly sha256: string }[];
  readonly deleted: readonly string[];
  /** Pickles of the target left in place (no `--replace-weights`). */
  readonly keptPickles: readonly string[];
  readonly before: AuditSummary;
  readonly after: AuditSummary;
  readonly version: string;
}

/**
 * Characters no description line keeps: line breaks and other control bytes (C0, DEL, C1), zero-width characters,
 * and the bidirectional overrides that would make a name read as another (`txt.exe` shown as `exe.txt`).
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Untrusted text (names come from the source and the Hub) as one printable line of at most `max` characters. */
function flat(text: string, max: number): string {
  const one = text.replace(/\r\n|[\r\n]/g, " ").replace(UNPRINTABLE, "\ufffd");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/**
 * One line of prose: flat, with the characters that would start Markdown (images, links, emphasis, code, tables,
 * strike-through), a mention (`@user` notifies someone) or an HTML tag escaped, so a name shows as written.
 */
function line(text: string, max = MAX_LINE_CHARS): string {
  return flat(text, max).replace(/[\\`*_[\]!|~@#]/g, "\\$&").replace(/</g, "&lt;");
}

/** Inline code (nothing inside renders) that survives backticks in the text; in a table, `|` is escaped too. */
function code(text: string, inTable = false): string {
  const inner = flat(text, 200).replace(/`/g, "'");
  return `\`${inTable ? inner.replace(/\|/g, "\\|") : inner}\``;
}

/** The first MAX_LIST_ROWS rows, then "and N more". */
function bounded(rows: readonly string[], more: (n: number) => string): string[] {
  if (rows.length <= MAX_LIST_ROWS) return [...rows];
  return [...rows.slice(0, MAX_LIST_ROWS), more(rows.length - MAX_LIST_ROWS)];
}

function fileTable(files: readonly { name: string; bytes: number; sha256: string }[]): string[] {
  if (files.length === 0) return ["(none)"];
  return [
    "| file | bytes | SHA-256 |",
    "| --- | ---: | --- |",
    ...bounded(files.map((f) => `| ${code(f.name, true)} | ${f.bytes} | \`${f.sha256}\` |`), (n) => `| and ${n} more | | |`),
  ];
}

function auditSection(title: string, a: AuditSummary): string[] {
  const out = [`### ${title}`, ""];
  if ("skipped" in a) return [...out, line(a.skipped)];
  out.push(`Verdict: ${line(a.verdict)}`, "");
  if (a.findings.length === 0) return [...out, "No findings."];
  return [...out, ...bounded(a.findings.map((f) => `- **${f.severity}** \`${f.code}\`: ${line(f.message)}`), (n) => `- and ${n} more findings`)];
}

/** The Markdown description; never longer than MAX_DESCRIPTION_CHARS. */
export function exportDescription(p: DescriptionParams): string {
  const exact = `${p.bitExact}/${p.tensorCount} tensors bit-exact (copied byte for byte; source and written bytes hashed and compared per tensor)`;
  const lines = [
    `Exported with truecast ${line(p.version, 40)} from ${code(p.source)} (${line(p.sourceKind, 80)}).`,
    "",
    "### Precision",
    "",
    `- ${exact}`,
    ...(p.computed > 0 ? [`- ${p.computed} tensors computed (LoRA merge in float32, rounded once), verified by hash after writing`] : []),
    ...bounded(p.conversions.map((c) => `- converted ${line(c)}`), (n) => `- and ${n} more conversions`),
    `- dtype: ${p.dtype ?? "no floating tensors"}`,
    "",
    "### Source files",
    "",
    ...fileTable(p.sourceFiles),
    "",
    "### Files written",
    "",
    ...fileTable(p.written.map((f) => ({ name: f.path, bytes: f.size, sha256: f.sha256 }))),
    "",
  ];
  if (p.deleted.length > 0) {
    lines.push("### Deleted by this commit", "", ...bounded(p.deleted.map((d) => `- ${code(d)}`), (n) => `- and ${n} more`), "");
  } else if (p.keptPickles.length > 0) {
    lines.push("### Left in place", "", `${p.keptPickles.length} pickle checkpoint${p.keptPickles.length === 1 ? "" : "s"} stay beside the safetensors files (\`--replace-weights\` would delete them):`, "", ...bounded(p.keptPickles.map((d) => `- ${code(d)}`), (n) => `- and ${n} more`), "");
  }
  lines.push(...auditSection("Audit of the source (before)", p.before), "", ...auditSection("Audit of the files written (after)", p.after), "");
  const text = lines.join("\n");
  if (text.length <= MAX_DESCRIPTION_CHARS) return text;
  // Only reachable with very long names: cut at a line end and say so.
  const cut = text.lastIndexOf("\n", MAX_DESCRIPTION_CHARS - 100);
  return `${text.slice(0, cut)}\n\n(description cut at ${MAX_DESCRIPTION_CHARS} characters; truecast-report.json has everything)\n`;
}
