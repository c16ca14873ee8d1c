import { stringify } from "yaml";
import { configName, parseFloatDType, type FloatDType } from "../dtype/table.js";
import type { Provenance } from "./provenance.js";
import type { SourceFileDigest } from "./source-digests.js";

/**
 * The README.md every export carries unless the user gives their own: Hub metadata as YAML front matter, how to
 * load the model, and a Precision section that says what the weights are stored as and whether any bit changed.
 * Output is a pure function of the parameters (the date comes in with the provenance; no local path ever does).
 */

/** What one requested dtype conversion did, as the cast engine counts it. */
export interface CardConversion {
  /** How many tensors were converted this way. */
  tensors: number;
  /** Source and target dtype (`BF16`, `float16`, ... any spelling the dtype table parses). */
  from: string;
  to: string;
  /** Elements whose value changed. */
  changed: number;
  /** Finite values that became ±inf. */
  toInfinity: number;
  /** Non-zero values that became 0. */
  toZero: number;
  maxAbsError: number;
}

export interface ModelCardParams {
  /** Hub id of the model this was fine-tuned from (`base_model`). */
  baseModel?: string;
  /** Hub license id (`apache-2.0`, `llama3.1`, ...); the key is left out when not given. */
  license?: string;
  /** Explicit pipeline tag; else derived from `architectures`; else left out. */
  pipelineTag?: string;
  /** `architectures` from config.json, used to derive the pipeline tag and the Auto class in the snippet. */
  architectures?: readonly string[];
  /** Extra tags; `truecast` is always among them. */
  tags?: readonly string[];
  /** Where the model will be published (`org/name`); used in the title and the loading snippet. */
  repoId?: string;
  /** The dtype the weights are stored in (`BF16`, `bfloat16`, ...). */
  storedDtype: string;
  /** The dtype of the source checkpoint's weights. */
  sourceDtype: string;
  /** Conversions done; empty when every weight was copied bit for bit. */
  conversions: readonly CardConversion[];
  /** The LoRA adapter merged into the weights, if any (a path or Hub id). */
  mergedAdapter?: string;
  /** How many weights the merge changed (computed in float32, rounded once), when known. */
  mergedTensors?: number;
  /** Frozen weights that came from the base model, not the checkpoint (int8/int4 H2O runs): a clause for the card. */
  frozenFromBase?: string;
  truecastVersion: string;
  /** What was exported, for the card: "H2O LLM Studio experiment", "PyTorch checkpoint", ... */
  sourceKind: string;
  /** Version, date, options, source and corrections of the run that wrote the card. */
  provenance?: Provenance;
  /** The source weight files with their size and SHA-256, listed in the Provenance section (none: no list). */
  sourceFiles?: readonly SourceFileDigest[];
  /**
   * What the folder holds besides weights: without config.json no loading snippet is written (the card says the
   * folder holds weights only and how to make it loadable); without tokenizer files no AutoTokenizer line.
   * @default both true
   */
  holds?: { readonly config: boolean; readonly tokenizer: boolean };
}

/** The exact phrase the Precision section uses when nothing was converted. */
export const BIT_EXACT = "bit-exact copy of the checkpoint's weights";

/** Architecture suffix → Hub pipeline tag and the transformers Auto class that loads it. */
const HEADS: ReadonlyArray<{ suffix: string; tag: string; auto: string }> = [
  { suffix: "ForCausalLM", tag: "text-generation", auto: "AutoModelForCausalLM" },
  { suffix: "ForSequenceClassification", tag: "text-classification", auto: "AutoModelForSequenceClassification" },
  { suffix: "ForTokenClassification", tag: "token-classification", auto: "AutoModelForTokenClassification" },
  { suffix: "ForQuestionAnswering", tag: "question-answering", auto: "AutoModelForQuestionAnswering" },
  { suffix: "ForMaskedLM", tag: "fill-mask", auto: "AutoModelForMaskedLM" },
];

/** The pipeline tag config.json's `architectures` imply (`*ForCausalLM` → text-generation), or undefined. */
export function pipelineTagFor(architectures: readonly string[] | undefined): string | undefined {
  const arch = architectures?.[0];
  return arch === undefined ? undefined : HEADS.find((h) => arch.endsWith(h.suffix))?.tag;
}

function autoClassFor(tag: string | undefined): string {
  return HEADS.find((h) => h.tag === tag)?.auto ?? "AutoModel";
}

/** `bfloat16` for any spelling of a float dtype; other names unchanged. */
function dtypeWord(name: string): string {
  const d = parseFloatDType(name);
  return d === null ? name : (configName(d) ?? name);
}

function frontMatter(p: ModelCardParams, tag: string | undefined): string {
  const tags = [...new Set([...(p.tags ?? []), "truecast"])];
  const meta: Record<string, unknown> = {};
  if (p.baseModel !== undefined) meta["base_model"] = p.baseModel;
  meta["library_name"] = "transformers";
  if (p.license !== undefined) meta["license"] = p.license;
  if (tag !== undefined) meta["pipeline_tag"] = tag;
  meta["tags"] = tags;
  // YAML 1.1 quoting, so that Python's PyYAML (which reads the Hub's metadata) sees strings like "yes" as strings.
  return `---\n${stringify(meta, { version: "1.1", lineWidth: 0 })}---\n`;
}

/** The card's text when the folder has no config.json: what it is, and how to make it loadable. */
export const WEIGHTS_ONLY =
  "This folder holds weights only: it has no config.json, so transformers cannot load it as it is. " +
  "Export it again with `--base <base model folder or Hub id>` to add the base model's config.json, tokenizer and " +
  "generation files, or put a config.json next to the checkpoint.";

/** Float dtypes from widest to narrowest: loading in the widest one of a mix keeps every value exact. */
const WIDEST_FIRST: readonly FloatDType[] = ["F64", "F32"];

/**
 * The dtype to load in: the stored one, or for a mix (`bfloat16 + float32`) the widest floating dtype present,
 * float32 for bfloat16 + float16. Not "auto": transformers' auto loads every weight in config.json's one dtype,
 * silently rounding the wider ones. Null when no floating dtype is stored.
 */
function loadDtype(stored: string): FloatDType | null {
  const floats = stored.split(" + ").map(parseFloatDType).filter((d): d is FloatDType => d !== null);
  if (floats.length <= 1) return floats[0] ?? null;
  return WIDEST_FIRST.find((d) => floats.includes(d)) ?? "F32";
}

function loadSnippet(p: ModelCardParams, tag: string | undefined): string {
  if (p.holds && !p.holds.config) return WEIGHTS_ONLY;
  const tokenizer = !p.holds || p.holds.tokenizer;
  const auto = autoClassFor(tag);
  const stored = loadDtype(p.storedDtype);
  const dtypeArg = stored === null ? '"auto"' : `torch.${configName(stored) ?? "float32"}`;
  const id = JSON.stringify(p.repoId ?? "path/to/this/folder");
  return [
    "```python",
    "import torch",
    `from transformers import ${auto}${tokenizer ? ", AutoTokenizer" : ""}`,
    "",
    `model_id = ${id}`,
    ...(tokenizer ? ["tokenizer = AutoTokenizer.from_pretrained(model_id)"] : []),
    `model = ${auto}.from_pretrained(model_id, torch_dtype=${dtypeArg})`,
    "```",
  ].join("\n");
}

function conversionLines(p: ModelCardParams): string[] {
  const { conversions } = p;
  const merged =
    p.mergedAdapter === undefined
      ? ""
      : `, except the ${p.mergedTensors === undefined ? "" : `${p.mergedTensors} `}weights the adapter was merged into`;
  const frozen = p.frozenFromBase === undefined ? [] : [`- Frozen weights: ${p.frozenFromBase}.`];
  if (conversions.length === 0) return [`- Conversion: ${BIT_EXACT}${merged}.`, ...frozen];
  const out = [...frozen, `- Conversion (requested by the user; every other weight is a bit-exact copy${merged}):`, ""];
  out.push("| tensors | from | to | values changed | became ±inf | became 0 | max abs error |");
  out.push("| ---: | --- | --- | ---: | ---: | ---: | ---: |");
  for (const c of conversions) {
    out.push(
      `| ${c.tensors} | ${dtypeWord(c.from)} | ${dtypeWord(c.to)} | ${c.changed} | ${c.toInfinity} | ${c.toZero} | ${c.maxAbsError === Infinity ? "∞ (overflow)" : String(c.maxAbsError)} |`,
    );
  }
  return out;
}

/** Markdown-safe inline code: backticks and line breaks cannot escape it. */
function code(text: string): string {
  return "`" + text.replace(/[`\r\n]/g, " ") + "`";
}

/** A table cell: inline code whose `|` cannot end the cell. */
function cell(text: string): string {
  return code(text).replace(/\|/g, "\\|");
}

/** The source weight files as a table: name, input, size, SHA-256. */
function sourceFileLines(files: readonly SourceFileDigest[]): string[] {
  if (files.length === 0) return [];
  return [
    "",
    "Source weight files (SHA-256 as `sha256sum` prints it; on the Hub, a file's LFS oid):",
    "",
    "| file | input | bytes | SHA-256 |",
    "| --- | --- | ---: | --- |",
    ...files.map((f) => `| ${cell(f.name)} | ${f.role === "base" ? "base model" : f.role} | ${f.bytes} | ${cell(f.sha256)} |`),
  ];
}

function provenanceLines(p: Provenance, files: readonly SourceFileDigest[]): string[] {
  const options = Object.entries(p.options).map(([k, v]) => (v === true ? `--${k}` : `--${k} ${String(v)}`));
  const out = [
    "## Provenance",
    "",
    `- Tool: truecast ${p.version}, ${code(p.command)}, ${p.date}`,
    `- Source: ${p.source.kind} ${code(p.source.name)}`,
    `- Options: ${options.length === 0 ? "none (defaults: bit-exact copy, 5GB shards)" : options.map(code).join(" ")}`,
  ];
  if (p.corrections.length === 0) out.push("- Corrections: none");
  else {
    for (const c of p.corrections) {
      const from = c.from === undefined ? "missing" : JSON.stringify(c.from);
      out.push(`- Corrected: ${c.file} ${code(c.key)} ${from} → ${JSON.stringify(c.to)} (measured from the written tensors)`);
    }
  }
  out.push("- Every tensor's digest and every conversion: `truecast-report.json` in this repository.");
  out.push(...sourceFileLines(files));
  return out;
}

/** The model card (README.md) text. */
export function renderModelCard(p: ModelCardParams): string {
  const tag = p.pipelineTag ?? pipelineTagFor(p.architectures);
  const title = p.repoId?.split("/").pop() ?? "Exported model";
  const origin = p.baseModel === undefined ? "A fine-tuned model" : `A fine-tune of [${p.baseModel}](https://huggingface.co/${p.baseModel})`;
  const lines = [
    frontMatter(p, tag),
    `# ${title}`,
    "",
    `${origin}, exported with truecast ${p.truecastVersion} (source: ${p.sourceKind}).`,
    "",
    "## How to load it",
    "",
    loadSnippet(p, tag),
    "",
    "## Precision",
    "",
    `- Stored dtype: ${dtypeWord(p.storedDtype)}`,
    `- Source dtype: ${dtypeWord(p.sourceDtype)} (${p.sourceKind})`,
    ...(p.mergedAdapter === undefined ? [] : [`- Merged LoRA adapter: ${p.mergedAdapter}`]),
    ...conversionLines(p),
    `- Exported by: truecast ${p.truecastVersion}`,
    "",
    ...(p.provenance ? [...provenanceLines(p.provenance, p.sourceFiles ?? []), ""] : []),
  ];
  return lines.join("\n");
}

/** The part of an export's report the card is made from (structurally the export report's fields). */
export interface CardExportFacts {
  readonly source: { readonly kind: string };
  /** Bytes written per safetensors dtype name. */
  readonly bytesByDtype: Readonly<Record<string, number>>;
  /** Bytes read per source dtype name. */
  readonly sourceBytesByDtype: Readonly<Record<string, number>>;
  readonly conversions: readonly CardConversion[];
}

/** Dtypes by bytes held, most first (ties by name), in config spelling, joined with " + " when mixed. */
export function describeDtypes(bytesByDtype: Readonly<Record<string, number>>): string {
  const entries = Object.entries(bytesByDtype).filter(([, n]) => n > 0);
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return entries.length === 0 ? "none" : entries.map(([d]) => dtypeWord(d)).join(" + ");
}

/** Card parameters for a finished export; `extra` adds what the report does not know. */
export function cardParamsFromExport(
  report: CardExportFacts,
  extra: Omit<ModelCardParams, "storedDtype" | "sourceDtype" | "conversions" | "sourceKind">,
): ModelCardParams {
  return {
    ...extra,
    storedDtype: describeDtypes(report.bytesByDtype),
    sourceDtype: describeDtypes(report.sourceBytesByDtype),
    conversions: report.conversions,
    sourceKind: report.source.kind,
  };
}
