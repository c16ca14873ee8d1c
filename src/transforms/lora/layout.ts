/**
 * Which way each LoRA-targeted weight is stored, decided without guessing from a square shape.
 *
 * nn.Linear stores its weight `[out, in]`; transformers' Conv1D (GPT-2 and its kin) stores it `[in, out]`, and PEFT
 * merges such a layer with `fan_in_fan_out`. PEFT decides that by the module's TYPE, not by the config: its
 * `dispatch_default` (peft 0.12 `tuners/lora/layer.py`) sets `fan_in_fan_out = True` for a Conv1D and `False` for an
 * nn.Linear, with a warning when the config said otherwise, and writes the value back into the config, so a saved
 * `adapter_config.json` holds the type of the last module PEFT wrapped. The layout of a weight is therefore, in order:
 * 1. embeddings: `[num, dim]`, merged transposed (PEFT's Embedding layer);
 * 2. the base architecture, where its layer types are known ({@link CONV1D_MODULES}, from transformers' own code);
 * 3. a weight whose two dimensions differ: the one orientation in which lora_A and lora_B fit (a fact, not a guess);
 * 4. a square weight: transformers' own implementation of the base's `model_type` when it has no Conv1D layer at
 *    all (and the adapter shows none), else the adapter config's stated `fan_in_fan_out` when the adapter's
 *    non-square modules agree with it; otherwise the merge is refused, naming the module.
 */
import { CONFIG_FILE, parseSideJson, readSideFile } from "../../formats/side-file.js";
import { TruecastError } from "../../errors.js";
import type { LoraModuleTensors, PeftLoraConfig } from "../../sources/peft.js";
import type { TensorRef } from "../../sources/tensor-ref.js";

/** `out×in` (nn.Linear) or `in×out` (Conv1D with fan_in_fan_out, and embeddings `num×dim`). */
export type WeightLayout = "out×in" | "in×out";
/** What decided a module's layout. */
export type LayoutSource = "embedding" | "architecture" | "shape" | "adapter config";

/** What the base model's config.json says about its architecture. */
export interface BaseArchitecture {
  /** `model_type`, or null when config.json has none. */
  readonly modelType: string | null;
  /** config.json has `auto_map`: the model is remote code, whose layer types truecast cannot know. */
  readonly remoteCode: boolean;
  /** The config.json read, for messages. */
  readonly configPath: string;
}

/** The GPT-2 family's Conv1D modules, as the last two parts of their names. */
const GPT2_CONV1D = [
  "attn.c_attn", "attn.q_attn", "attn.c_proj", "crossattention.c_attn", "crossattention.q_attn", "crossattention.c_proj",
  "mlp.c_fc", "mlp.c_proj",
] as const;

/**
 * transformers' models that build layers with `pytorch_utils.Conv1D`, and which modules those are (every other 2-D
 * layer of theirs is nn.Linear: lm_head, score). Verified in transformers 4.44.2 (`grep "= Conv1D(" models/*\/
 * modeling_*.py`): gpt2, imagegpt and decision_transformer (GPT-2's attention and MLP), openai-gpt, and clvp's decoder
 * MLP. Not gpt_bigcode: its c_attn, c_proj and c_fc are nn.Linear. No other model of transformers uses Conv1D.
 */
export const CONV1D_MODULES: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ["gpt2", GPT2_CONV1D],
  ["imagegpt", GPT2_CONV1D],
  ["decision_transformer", GPT2_CONV1D],
  ["openai-gpt", ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]],
  ["clvp", ["mlp.c_fc", "mlp.c_proj"]],
]);

/** Read `model_type` and `auto_map` from a base model's config.json; null when there is none or it cannot be read. */
export async function readBaseArchitecture(configPath: string | undefined): Promise<BaseArchitecture | null> {
  if (configPath === undefined) return null;
  try {
    const parsed = parseSideJson(await readSideFile(configPath, CONFIG_FILE), configPath, CONFIG_FILE);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
    const c = parsed as Record<string, unknown>;
    const modelType = typeof c.model_type === "string" && c.model_type !== "" ? c.model_type : null;
    return { modelType, remoteCode: c.auto_map !== undefined && c.auto_map !== null, configPath };
  } catch {
    return null;
  }
}

function isConv1d(modelType: string, module: string): boolean {
  return (CONV1D_MODULES.get(modelType) ?? []).some((s) => module === s || module.endsWith(`.${s}`));
}

const TYPE_OF: Record<WeightLayout, string> = { "out×in": "nn.Linear, stored [out, in]", "in×out": "Conv1D, stored [in, out]" };

export interface ModuleLayout {
  readonly layout: WeightLayout;
  readonly from: LayoutSource;
}

export interface PlanLayoutsParams {
  readonly modules: readonly LoraModuleTensors[];
  /** The weight each module merges into (`<module>.weight`), as the merge will read it. */
  readonly weights: ReadonlyMap<string, TensorRef>;
  readonly config: PeftLoraConfig;
  readonly architecture: BaseArchitecture | null;
  /** The adapter weights file, for messages. */
  readonly file: string;
  /** Where the adapter's config is, for the advice in a refusal. */
  readonly configFile?: string;
}

function invalid(file: string, message: string): never {
  throw new TruecastError("ADAPTER_INVALID", `${file}: ${message}`);
}

/** Which orientations of `w` lora_A and lora_B fit; checks 2-D shapes and ranks. */
function fits(m: LoraModuleTensors, w: TensorRef, file: string): { normal: boolean; transposed: boolean; shapes: string } {
  if (m.a.shape.length !== 2 || m.b.shape.length !== 2 || w.shape.length !== 2) {
    throw new TruecastError("ADAPTER_UNSUPPORTED", `${file}: module "${m.module}" (lora_A ${JSON.stringify(m.a.shape)}, lora_B ${JSON.stringify(m.b.shape)}, base "${w.name}" ${JSON.stringify(w.shape)}) is not 2-D; truecast merges LoRA into Linear, Conv1D and Embedding weights only`);
  }
  const [r, inA] = m.a.shape;
  const [outB, rB] = m.b.shape;
  if (r !== rB) invalid(file, `module "${m.module}": lora_A ${JSON.stringify(m.a.shape)} and lora_B ${JSON.stringify(m.b.shape)} have different ranks`);
  const [d0, d1] = w.shape;
  const shapes = `lora_A ${JSON.stringify(m.a.shape)}, lora_B ${JSON.stringify(m.b.shape)}, base ${JSON.stringify(w.shape)}`;
  return { normal: d0 === outB && d1 === inA, transposed: d0 === inA && d1 === outB, shapes };
}

/**
 * The layout of every module's weight (see the file comment), with notes where PEFT's per-type rule overrides the
 * config's `fan_in_fan_out`. Refuses a module whose shapes do not fit, or a square weight whose layout nothing tells.
 */
export function planLayouts(p: PlanLayoutsParams): { layouts: Map<string, ModuleLayout>; notes: string[] } {
  const { file, config, architecture: arch } = p;
  const fit = new Map<string, ReturnType<typeof fits>>();
  for (const m of p.modules) {
    const w = p.weights.get(m.module);
    if (w === undefined) continue;
    const f = fits(m, w, file);
    if (m.kind === "embedding" && !f.transposed) invalid(file, `embedding module "${m.module}": shapes do not fit (${f.shapes}); is this adapter for this base model?`);
    if (!f.normal && !f.transposed) invalid(file, `module "${m.module}": shapes do not fit (${f.shapes}); is this adapter for this base model?`);
    fit.set(m.module, f);
  }
  // Non-square linear weights show their layout; they are the evidence the rest is checked against.
  const shown = new Map<string, WeightLayout>();
  for (const m of p.modules) {
    const f = fit.get(m.module);
    if (m.kind === "linear" && f !== undefined && f.normal !== f.transposed) shown.set(m.module, f.transposed ? "in×out" : "out×in");
  }
  // transformers' own code only: a remote-code model (auto_map) may name itself gpt2 and build anything.
  const own = arch !== null && arch.modelType !== null && !arch.remoteCode ? arch.modelType : null;
  const known = own !== null && CONV1D_MODULES.has(own) ? own : null;
  // transformers' own implementation of any other model_type has only nn.Linear layers, unless the adapter shows
  // a weight stored [in, out]: then this is not transformers' model (custom code) and nothing is assumed.
  const linearOnly = known === null && own !== null && [...shown.values()].every((l) => l === "out×in");
  const stated: WeightLayout = config.fanInFanOut ? "in×out" : "out×in";
  const statedAgrees = [...shown.values()].every((l) => l === stated);

  const layouts = new Map<string, ModuleLayout>();
  const overridden: string[] = [];
  for (const m of p.modules) {
    const f = fit.get(m.module);
    if (f === undefined) continue;
    let chosen: ModuleLayout;
    if (m.kind === "embedding") chosen = { layout: "in×out", from: "embedding" };
    else if (known !== null) {
      const layout: WeightLayout = isConv1d(known, m.module) ? "in×out" : "out×in";
      if (!(layout === "in×out" ? f.transposed : f.normal)) {
        invalid(file, `module "${m.module}": in ${known} it is ${TYPE_OF[layout]}, but the shapes do not fit that (${f.shapes}); is this adapter for this base model?`);
      }
      chosen = { layout, from: "architecture" };
    } else if (shown.has(m.module)) chosen = { layout: shown.get(m.module) as WeightLayout, from: "shape" };
    else if (linearOnly) chosen = { layout: "out×in", from: "architecture" };
    else if (config.fanInFanOutStated && statedAgrees) chosen = { layout: stated, from: "adapter config" };
    else refuseSquare(p, m, f.shapes, statedAgrees);
    layouts.set(m.module, chosen);
    if (m.kind === "linear" && chosen.layout !== stated) overridden.push(m.module);
  }
  const notes: string[] = [];
  if (overridden.length > 0) {
    const said = config.fanInFanOutStated ? `the adapter config says fan_in_fan_out=${config.fanInFanOut}` : "the config states no fan_in_fan_out (false)";
    const list = overridden.length <= 4 ? overridden.join(", ") : `${overridden.slice(0, 4).join(", ")} and ${overridden.length - 4} more`;
    notes.push(`${said}, but ${overridden.length} modules are ${TYPE_OF[stated === "in×out" ? "out×in" : "in×out"]} (${list}): merged as such, as PEFT does (it sets fan_in_fan_out by each module's type)`);
  }
  const by = (s: LayoutSource) => [...layouts.values()].filter((l) => l.from === s).length;
  const counted = (["architecture", "shape", "adapter config"] as const).filter((s) => by(s) > 0).map((s) => `${by(s)} by ${s === "architecture" ? `the base architecture (${arch?.modelType ?? ""})` : s === "shape" ? "their non-square shape" : `the adapter config's fan_in_fan_out`}`);
  if (counted.length > 0) notes.push(`weight layouts decided: ${counted.join(", ")}`);
  return { layouts, notes };
}

function refuseSquare(p: PlanLayoutsParams, m: LoraModuleTensors, shapes: string, statedAgrees: boolean): never {
  const arch = p.architecture;
  const archWhy = arch === null
    ? "the base model has no readable config.json to tell its architecture"
    : arch.modelType === null
      ? `the base's ${arch.configPath} names no model_type`
      : arch.remoteCode
        ? `the base's model_type "${arch.modelType}" is remote code (config.json has auto_map), whose layer types truecast cannot know`
        : `the adapter's other modules show [in, out] weights, so the base ("${arch.modelType}") is not transformers' own model`;
  const configWhy = !p.config.fanInFanOutStated
    ? "the adapter's config does not state fan_in_fan_out"
    : statedAgrees
      ? ""
      : `the adapter config's fan_in_fan_out=${p.config.fanInFanOut} contradicts the layout its non-square modules show (PEFT records there the type of the last module it wrapped)`;
  const where = p.configFile ?? "the adapter's adapter_config.json";
  throw new TruecastError(
    "LORA_LAYOUT_UNKNOWN",
    `${p.file}: module "${m.module}": its weight is square (${shapes}), so its shape cannot tell whether it is nn.Linear ` +
      `(stored [out, in]) or Conv1D (stored [in, out], fan_in_fan_out), and nothing else does: ${archWhy}, and ${configWhy}. ` +
      `Nothing was written. State the layout in ${where} ("fan_in_fan_out": true for Conv1D, false for nn.Linear) or use a base whose config.json gives its model_type.`,
  );
}
