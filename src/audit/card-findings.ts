/**
 * Findings about the model card (README.md): the precision it states and its `base_model` against the files.
 * A card states a precision in its front matter (`torch_dtype`, `dtype`, `precision`), in truecast's own
 * `Stored dtype:` line, or in a sentence about the weights (`Weights are stored in bfloat16.`); sentences about a
 * source, a base or a conversion are not taken as a claim about these files.
 */
import { parse } from "yaml";
import { censusDtypes } from "../export/config.js";
import { configName, isDType, isFloatDType, type DType, type FloatDType } from "../dtype/table.js";
import type { Finding } from "../report/page-data.js";
import { finding, loadedTensors } from "./finding.js";
import type { AuditModel, AuditTensor } from "./read-model.js";

const WORDS: readonly [RegExp, FloatDType][] = [
  [/\b(bf16|bfloat16|brain float)\b/i, "BF16"],
  [/\b(fp16|float16|f16|half[- ]precision)\b/i, "F16"],
  [/\b(fp32|float32|f32|full[- ]precision)\b/i, "F32"],
];
const ABOUT_WEIGHTS = /\b(weights?|stored|saved|precision|dtype|tensors?|checkpoint)\b/i;
const ABOUT_SOMETHING_ELSE = /\b(source|original|base|converted|conversion|trained|training|from|quantiz\w*|inference|compute|activations?)\b/i;
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** The card's front matter (YAML between the leading `---` lines) and its body. */
export function splitCard(text: string): { meta: Record<string, unknown>; body: string } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\s*(?:\r?\n|$)/.exec(text);
  if (m === null) return { meta: {}, body: text };
  let meta: unknown = null;
  try {
    meta = parse(m[1] ?? "", { maxAliasCount: 100 });
  } catch {
    meta = null;
  }
  const obj = typeof meta === "object" && meta !== null && !Array.isArray(meta) ? (meta as Record<string, unknown>) : {};
  return { meta: obj, body: text.slice(m[0].length) };
}

function dtypesIn(s: string): Set<FloatDType> {
  return new Set(WORDS.filter(([re]) => re.test(s)).map(([, d]) => d));
}

/** The precisions the card states for its own weights (empty when it states none, or several disagree). */
export function statedPrecision(text: string): Set<FloatDType> {
  const { meta, body } = splitCard(text);
  for (const key of ["torch_dtype", "dtype", "precision"]) {
    const v = meta[key];
    if (typeof v === "string") return dtypesIn(v);
  }
  const truecast = /^\s*[-*]?\s*Stored dtype:\s*(.+)$/m.exec(body);
  if (truecast !== null) return dtypesIn(truecast[1] ?? "");
  const found = new Set<FloatDType>();
  for (const sentence of body.split(/(?<=[.!?])\s+|\n/)) {
    if (!ABOUT_WEIGHTS.test(sentence) || ABOUT_SOMETHING_ELSE.test(sentence)) continue;
    for (const d of dtypesIn(sentence)) found.add(d);
  }
  return found;
}

/** The card's `base_model`, as a list. */
function baseModels(text: string): string[] {
  const v = splitCard(text).meta["base_model"];
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** What the files say the base model is: adapter_config.json's base_model_name_or_path, config.json's _name_or_path. */
function filesBaseModel(model: AuditModel): { id: string; file: string } | null {
  const adapter = model.adapterConfig?.["base_model_name_or_path"];
  if (typeof adapter === "string" && HUB_ID.test(adapter)) return { id: adapter, file: "adapter_config.json" };
  const name = model.config?.["_name_or_path"];
  if (typeof name === "string" && HUB_ID.test(name)) return { id: name, file: "config.json" };
  return null;
}

function word(d: DType): string {
  return configName(d) ?? d;
}

/** The card against the files. */
export function cardFindings(model: AuditModel): Finding[] {
  if (model.card === null) return [];
  const out: Finding[] = [];
  const tensors = loadedTensors(model).filter((t): t is AuditTensor & { dtype: DType } => isDType(t.dtype));
  const stored = [...censusDtypes(tensors).bytesByDtype.keys()].filter(isFloatDType);
  const stated = statedPrecision(model.card);
  if (stored.length > 0 && stated.size === 1) {
    const claim = [...stated][0] as FloatDType;
    if (!stored.includes(claim)) {
      out.push(finding("warning", "CARD_PRECISION_MISMATCH",
        `README.md states the weights are ${word(claim)}, but they are stored in ${stored.map(word).join(" + ")}`,
        "correct the model card (or re-export in the stated dtype on purpose)", { files: ["README.md"] }));
    }
  }
  const bases = baseModels(model.card);
  const files = filesBaseModel(model);
  if (bases.length > 0 && files !== null && !bases.some((b) => b.toLowerCase() === files.id.toLowerCase())) {
    out.push(finding("warning", "CARD_BASE_MODEL_MISMATCH",
      `README.md names base_model ${bases.join(", ")}, but ${files.file} says the model was made from ${files.id}`,
      "correct base_model in the card's front matter (the Hub's model tree uses it)", { files: ["README.md", files.file] }));
  }
  return out;
}
