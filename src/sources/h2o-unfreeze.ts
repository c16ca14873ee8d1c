import type { TensorRef } from "./tensor-ref.js";

/**
 * H2O LLM Studio's `lora_unfreeze_layers`: in a LoRA run, `prepare_lora` sets `requires_grad = True` on every
 * parameter of the PEFT-wrapped backbone whose name contains one of the entries (`any(u in name for u in ...)`), so
 * those weights train in full and checkpoint.pth holds them trained (in float32 in int4/int8 runs:
 * `create_nlp_backbone` casts non-quantized parameters to float32). They must come from the checkpoint, never from
 * the base model.
 */

/** The entries of `lora_unfreeze_layers` that `param` (a PEFT name, `base_model.model.<...>`) contains, as H2O matches. */
export function unfreezeHits(unfreeze: readonly string[], param: string): string[] {
  return unfreeze.filter((u) => param.includes(u));
}

/** What lora_unfreeze_layers did: which weights trained in full came from the checkpoint, and in which dtype. */
export function unfreezeNotes(p: {
  unfreeze: readonly string[];
  matched: ReadonlySet<string>;
  unfrozen: readonly TensorRef[];
  unfrozenQuantized: readonly string[];
  base: ReadonlyMap<string, TensorRef> | null;
}): string[] {
  if (p.unfreeze.length === 0) return [];
  const notes: string[] = [];
  const list = p.unfrozen.map((t) => `${t.name} (${t.dtype})`).join(", ");
  notes.push(`lora_unfreeze_layers [${p.unfreeze.join(", ")}]: ${p.unfrozen.length} weights trained in full, taken from checkpoint.pth as it holds them${list === "" ? "" : `: ${list}`}`);
  const unmatched = p.unfreeze.filter((u) => !p.matched.has(u));
  if (unmatched.length > 0) notes.push(`lora_unfreeze_layers entries ${unmatched.join(", ")} match no weight of checkpoint.pth`);
  if (p.unfrozenQuantized.length > 0) {
    notes.push(`${p.unfrozenQuantized.length} quantized weights match lora_unfreeze_layers (${p.unfrozenQuantized.join(", ")}); bitsandbytes weights do not train, so the base model's are used`);
  }
  for (const t of p.unfrozen) {
    const b = p.base?.get(t.name);
    if (b !== undefined && b.dtype !== t.dtype) {
      notes.push(`${t.name} is ${t.dtype} in checkpoint.pth (H2O trains non-quantized weights of int4/int8 LoRA runs in float32) while the base model's is ${b.dtype}: written as ${t.dtype} unless --dtype asks otherwise, so the model mixes dtypes`);
    }
  }
  return notes;
}
