/**
 * Findings about what config.json claims: its dtype keys (`torch_dtype`, `dtype`, also inside nested sub-configs
 * such as `text_config`) against the tensors' measured dtype, mixed floating dtypes, and the tied output head
 * (`tie_word_embeddings`) against what is stored. Headers only; with `--values` the digests say whether a stored
 * tied head equals the embedding.
 */
import { censusDtypes } from "../export/config.js";
import { configName, isDType, isFloatDType, parseFloatDType, type DType } from "../dtype/table.js";
import type { Finding } from "../report/page-data.js";
import { formatBytes } from "../export/units.js";
import { finding, loadedTensors } from "./finding.js";
import type { DigestOf } from "./layout-findings.js";
import type { AuditModel, AuditTensor } from "./read-model.js";

const DTYPE_KEYS = ["torch_dtype", "dtype"] as const;
/** Sub-configs are a level or two down (`text_config`, `llm_config.text_config`); deeper is not a config. */
const MAX_CONFIG_DEPTH = 3;

/** Every dtype claim of a config, with its dotted path (`torch_dtype`, `text_config.torch_dtype`). */
export function dtypeClaims(config: Readonly<Record<string, unknown>>): { path: string; value: unknown }[] {
  const out: { path: string; value: unknown }[] = [];
  const walk = (obj: Readonly<Record<string, unknown>>, prefix: string, depth: number): void => {
    for (const key of DTYPE_KEYS) if (key in obj && obj[key] !== null) out.push({ path: prefix + key, value: obj[key] });
    if (depth >= MAX_CONFIG_DEPTH) return;
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === "object" && v !== null && !Array.isArray(v)) walk(v as Record<string, unknown>, `${prefix}${k}.`, depth + 1);
    }
  };
  walk(config, "", 0);
  return out;
}

function word(d: DType): string {
  return configName(d) ?? d;
}

function dtypeFindings(model: AuditModel, tensors: readonly AuditTensor[]): Finding[] {
  const out: Finding[] = [];
  const known = tensors.filter((t): t is AuditTensor & { dtype: DType } => isDType(t.dtype));
  const census = censusDtypes(known);
  const floats = [...census.bytesByDtype].filter(([d]) => isFloatDType(d)).sort((a, b) => b[1] - a[1]);
  if (census.mixed && census.dominant !== null) {
    const minority = known.filter((t) => isFloatDType(t.dtype) && t.dtype !== census.dominant).map((t) => t.name);
    out.push(finding("warning", "MIXED_FLOAT_DTYPES",
      `the weights mix floating dtypes: ${floats.map(([d, n]) => `${word(d)} ${formatBytes(n)}`).join(", ")}; transformers loads every weight in one dtype (config.json's), which rounds any wider one`,
      "load with the widest dtype present, or convert on purpose (truecast export --dtype) and say so", { tensors: minority }));
  }
  if (model.config === null || census.dominant === null) return out;
  const claims = dtypeClaims(model.config);
  if (claims.length === 0) {
    out.push(finding("info", "CONFIG_DTYPE_MISSING", `config.json states no dtype (torch_dtype / dtype); the tensors are ${word(census.dominant)}`,
      `add "torch_dtype": "${word(census.dominant)}" (truecast export writes it)`, { files: ["config.json"] }));
  }
  for (const c of claims) {
    const named = typeof c.value === "string" ? parseFloatDType(c.value) : null;
    if (named === null) {
      out.push(finding("warning", "CONFIG_DTYPE_UNKNOWN", `config.json ${c.path} is ${JSON.stringify(c.value)}, which names no floating dtype; the tensors are ${word(census.dominant)}`,
        `set ${c.path} to "${word(census.dominant)}"`, { files: ["config.json"] }));
    } else if (named !== census.dominant) {
      const damage = named === "F16" && census.dominant !== "F16" ? " (loading in float16 overflows values beyond ±65504)" : "";
      out.push(finding("error", "CONFIG_DTYPE_MISMATCH",
        `config.json ${c.path} says ${JSON.stringify(c.value)} but the tensors are ${word(census.dominant)}; transformers loads in the config's dtype${damage}`,
        `set ${c.path} to "${word(census.dominant)}" (truecast export writes the measured dtype)`, { files: ["config.json"] }));
    }
  }
  return out;
}

const INPUT_EMBEDDING = /(^|\.)(embed_tokens|wte|embed_in|word_embeddings|tok_embeddings)\.weight$/;
const OUTPUT_HEAD = /^(.*\.)?(lm_head|embed_out)\.weight$/;
/** Architectures with an output head that ties to the input embedding. */
const LM_ARCHITECTURE = /(ForCausalLM|LMHeadModel|ForConditionalGeneration)$/;

/** `tie_word_embeddings` as transformers reads it: the key, else `text_config`'s, else true (its default). */
function tieWordEmbeddings(config: Readonly<Record<string, unknown>>): { tie: boolean; stated: boolean } {
  const top = config["tie_word_embeddings"];
  if (typeof top === "boolean") return { tie: top, stated: true };
  const text = config["text_config"];
  const nested = typeof text === "object" && text !== null ? (text as Record<string, unknown>)["tie_word_embeddings"] : undefined;
  if (typeof nested === "boolean") return { tie: nested, stated: true };
  return { tie: true, stated: false };
}

function tiedFindings(model: AuditModel, tensors: readonly AuditTensor[], digestOf: DigestOf): Finding[] {
  if (model.config === null) return [];
  const embedding = tensors.find((t) => INPUT_EMBEDDING.test(t.name));
  const head = tensors.find((t) => OUTPUT_HEAD.test(t.name));
  const { tie, stated } = tieWordEmbeddings(model.config);
  const archs = model.config["architectures"];
  const lm = Array.isArray(archs) ? archs.some((a) => typeof a === "string" && LM_ARCHITECTURE.test(a)) : embedding !== undefined;
  if (tie && head !== undefined && embedding !== undefined) {
    const why = stated ? "config.json sets tie_word_embeddings" : "config.json leaves tie_word_embeddings at its default, true";
    const sameShape = head.shape.join() === embedding.shape.join() && head.dtype === embedding.dtype;
    const a = digestOf(head);
    const b = digestOf(embedding);
    if (!sameShape || (a !== undefined && b !== undefined && a !== b)) {
      return [finding("error", "TIED_HEAD_DIFFERS",
        `${head.name} is stored and differs from ${embedding.name}, but ${why}: transformers replaces the stored head with the embedding at load, so the head you trained is silently dropped`,
        "set tie_word_embeddings to false if the head was trained on its own, or drop the stored head", { tensors: [head.name, embedding.name] })];
    }
    const same = a !== undefined && b !== undefined ? "with the same bytes" : "(bytes not compared: --values compares them)";
    return [finding("warning", "TIED_HEAD_STORED", `${head.name} is stored although ${why}: it duplicates ${embedding.name} ${same}`,
      "drop the duplicate head (transformers' save_pretrained leaves it out)", { tensors: [head.name, embedding.name] })];
  }
  const indexed = model.indexes.some((ix) => [...(ix.index?.weightMap.keys() ?? [])].some((n) => OUTPUT_HEAD.test(n)));
  if (!tie && lm && head === undefined && embedding !== undefined && !indexed) {
    return [finding("error", "TIED_HEAD_MISSING",
      `config.json sets tie_word_embeddings to false, but no output head (lm_head.weight) is stored: transformers initializes it at random`,
      "upload the trained lm_head.weight, or set tie_word_embeddings to true if the head is the embedding", { tensors: [embedding.name], files: ["config.json"] })];
  }
  return [];
}

/** config.json against the tensors a loader uses. */
export function configFindings(model: AuditModel, digestOf: DigestOf): Finding[] {
  const out: Finding[] = [];
  if (model.configProblem !== undefined) {
    out.push(finding("error", "CONFIG_INVALID", `config.json cannot be read: ${model.configProblem.message}`, "fix or restore config.json", { files: ["config.json"] }));
  } else if (model.config === null && model.files.length > 0 && model.adapterConfig === null) {
    out.push(finding("warning", "CONFIG_MISSING", "there is no config.json: nothing states the architecture or the dtype", "add the config.json the model was trained with"));
  }
  const tensors = loadedTensors(model);
  out.push(...dtypeFindings(model, tensors), ...tiedFindings(model, tensors, digestOf));
  return out;
}
