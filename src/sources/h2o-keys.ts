import { TruecastError } from "../errors.js";

/**
 * What each key of an H2O LLM Studio `checkpoint.pth` is, and the name it gets in the export.
 *
 * H2O's Model keeps the transformers model as `backbone`, so keys start with `backbone.` (DeepSpeed's
 * save_16bit_model saves the backbone alone: no prefix). LoRA runs wrap it in PEFT: `backbone.base_model.model.<key>`
 * with `<module>.base_layer.weight` for the frozen weight and `<module>.lora_A.default.weight` /
 * `<module>.lora_B.default.weight` for the adapter. Heads live beside the backbone: `classification_head.weight`,
 * `regression_head.weight`. int8/int4 runs hold bitsandbytes-quantized weights with companion tensors
 * (`SCB`, `weight_format`; `weight.absmax`, `weight.quant_map`, `weight.quant_state.*`).
 */

export type KeyRole =
  /**
   * A model weight, under its transformers name; `param` is its name in the PEFT-wrapped backbone
   * (`base_model.model.<...>.base_layer.weight`), which H2O matches `lora_unfreeze_layers` against.
   */
  | { readonly role: "weight"; readonly name: string; readonly param: string }
  /** An H2O head (`classification_head.weight`), kept out of the transformers weights. */
  | { readonly role: "head"; readonly name: string }
  /** A LoRA tensor, named as PEFT saves adapters (`base_model.model.<module>.lora_A.weight`). */
  | { readonly role: "lora"; readonly name: string; readonly module: string }
  /** A bitsandbytes companion tensor of the quantized weight `weight`. */
  | { readonly role: "quant"; readonly name: string; readonly weight: string };

export interface KeyPlan {
  /** Source key → role, in source order. */
  readonly roles: ReadonlyMap<string, KeyRole>;
  readonly backbonePrefixed: number;
  readonly peftWrapped: number;
  /** Keys under `backbone._orig_mod.` (a torch.compile'd backbone). */
  readonly compiledUnwrapped: number;
  readonly baseLayerRenamed: number;
  /** PEFT adapter names seen in LoRA keys (`default`). */
  readonly adapterNames: ReadonlySet<string>;
  /** Weights that bitsandbytes companions show to be quantized (export names). */
  readonly quantizedWeights: ReadonlySet<string>;
}

const HEAD = /^(classification_head|regression_head)\.(weight|bias)$/;
const BACKBONE = "backbone.";
const PEFT_WRAP = "base_model.model.";
/** H2O compiles the backbone alone (`model.backbone = torch.compile(model.backbone)`): `backbone._orig_mod.<key>`. */
const COMPILED = "_orig_mod.";
/** PEFT keeps adapters in ModuleDicts keyed by adapter name: `<module>.lora_A.<adapter>.weight`. */
const LORA_LINEAR = /^(.+)\.(lora_A|lora_B)\.([^.]+)\.(weight|bias)$/;
const LORA_EMBEDDING = /^(.+)\.(lora_embedding_A|lora_embedding_B)\.([^.]+)$/;
const LORA_MAGNITUDE = /^(.+)\.lora_magnitude_vector\.([^.]+)(?:\.weight)?$/;
/** bitsandbytes Linear8bitLt: `<module>.SCB`, `<module>.weight_format` beside `<module>.weight`. */
const INT8_COMPANION = /^(.+)\.(SCB|weight_format)$/;
/** bitsandbytes Linear4bit: `<module>.weight.absmax`, `.quant_map`, `.nested_*`, `.quant_state.bitsandbytes__nf4`. */
const INT4_COMPANION = /^(.+\.weight)\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\..+)$/;

function loraRole(name: string): { name: string; module: string; adapter: string } | null {
  let m = LORA_LINEAR.exec(name);
  if (m) return { module: m[1] ?? "", adapter: m[3] ?? "", name: `${PEFT_WRAP}${m[1]}.${m[2]}.${m[4]}` };
  m = LORA_EMBEDDING.exec(name);
  if (m) return { module: m[1] ?? "", adapter: m[3] ?? "", name: `${PEFT_WRAP}${m[1]}.${m[2]}` };
  m = LORA_MAGNITUDE.exec(name);
  if (m) return { module: m[1] ?? "", adapter: m[2] ?? "", name: `${PEFT_WRAP}${m[1]}.lora_magnitude_vector` };
  return null;
}

/** `<module>.base_layer.<rest>` → `<module>.<rest>` (the last occurrence: PEFT wraps a layer once). */
function unwrapBaseLayer(name: string): string {
  const i = name.lastIndexOf(".base_layer.");
  return i < 0 ? name : name.slice(0, i) + name.slice(i + ".base_layer".length);
}

export function planH2oKeys(params: { names: readonly string[]; file: string }): KeyPlan {
  const roles = new Map<string, KeyRole>();
  const adapterNames = new Set<string>();
  const quantizedWeights = new Set<string>();
  const taken = new Map<string, string>();
  let backbonePrefixed = 0;
  let peftWrapped = 0;
  let baseLayerRenamed = 0;
  let compiledUnwrapped = 0;
  for (const key of params.names) {
    let role: KeyRole;
    if (HEAD.test(key)) {
      role = { role: "head", name: key };
    } else {
      let n = key;
      if (n.startsWith(BACKBONE)) {
        n = n.slice(BACKBONE.length);
        backbonePrefixed++;
      }
      if (n.startsWith(COMPILED)) {
        n = n.slice(COMPILED.length);
        compiledUnwrapped++;
      }
      const param = n;
      if (n.startsWith(PEFT_WRAP)) {
        n = n.slice(PEFT_WRAP.length);
        peftWrapped++;
      }
      const lora = loraRole(n);
      if (lora !== null) {
        adapterNames.add(lora.adapter);
        if (adapterNames.size > 1) {
          throw new TruecastError(
            "ADAPTER_UNSUPPORTED",
            `${params.file} holds several LoRA adapters (${[...adapterNames].join(", ")}); only one adapter per experiment can be exported`,
          );
        }
        role = { role: "lora", name: lora.name, module: lora.module };
      } else {
        const plain = unwrapBaseLayer(n);
        if (plain !== n) baseLayerRenamed++;
        const int8 = INT8_COMPANION.exec(plain);
        const int4 = int8 === null ? INT4_COMPANION.exec(plain) : null;
        const weight = int8 !== null ? `${int8[1]}.weight` : int4 !== null ? (int4[1] ?? "") : null;
        if (weight !== null) {
          quantizedWeights.add(weight);
          role = { role: "quant", name: plain, weight };
        } else {
          role = { role: "weight", name: plain, param };
        }
      }
    }
    const before = taken.get(role.name);
    if (before !== undefined) {
      throw new TruecastError(
        "DUPLICATE_TENSOR",
        `${params.file}: keys ${before} and ${key} both become ${role.name}; the checkpoint mixes prefixed and unprefixed keys`,
      );
    }
    taken.set(role.name, key);
    roles.set(key, role);
  }
  return { roles, backbonePrefixed, peftWrapped, compiledUnwrapped, baseLayerRenamed, adapterNames, quantizedWeights };
}
