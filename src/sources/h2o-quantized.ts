import { TruecastError } from "../errors.js";
import { resolveBaseModelDir, type ResolveBaseParams, type ResolvedBaseWeights } from "./base-model.js";
import { openSafetensorsFolder } from "./safetensors.js";
import type { SourceModel, TensorRef } from "./tensor-ref.js";
import { openTorchFolder } from "./torch.js";

/**
 * int8/int4 H2O runs store the frozen base weights bitsandbytes-quantized. Those bytes cannot be exported as they
 * are; like H2O's own export (which reloads the base model to merge), the base model's original weights stand in for
 * them. This finds the base weights and returns, for each quantized weight, the base tensor of the same name.
 */

export interface QuantizedBase {
  readonly base: ResolvedBaseWeights;
  /** Export name → the base model's tensor. */
  readonly refs: ReadonlyMap<string, TensorRef>;
  /** Every tensor of the base model, by name (frozen weights of a LoRA run come from here too). */
  readonly all: ReadonlyMap<string, TensorRef>;
  readonly source: SourceModel;
}

export async function openQuantizedBase(params: {
  ckptPath: string;
  backboneDtype: string;
  /** Export names of the quantized weights → the checkpoint's quantized tensor (for the shape check). */
  quantized: ReadonlyMap<string, TensorRef>;
  resolve: ResolveBaseParams;
}): Promise<QuantizedBase> {
  const names = [...params.quantized.keys()].sort();
  const what = `${params.ckptPath}: an ${params.backboneDtype} experiment: ${names.length} weights (e.g. ${names[0] ?? ""}) are bitsandbytes-quantized`;
  let base: ResolvedBaseWeights;
  try {
    base = await resolveBaseModelDir(params.resolve);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new TruecastError("BASE_NOT_FOUND", `${what} and need the base model's own weights to be rebuilt; ${why}`, { cause: e });
  }
  const source = base.weights.every((w) => w.endsWith(".safetensors")) ? await openSafetensorsFolder(base.dir) : await openTorchFolder(base.dir);
  try {
    const byName = new Map(source.tensors.map((t) => [t.name, t]));
    const refs = new Map<string, TensorRef>();
    for (const name of names) {
      const ref = byName.get(name);
      if (ref === undefined) {
        throw new TruecastError("BASE_NOT_FOUND", `${what}, and the base model in ${base.dir} has no ${name}; pass --base <folder> with the model the experiment was trained from`);
      }
      const q = params.quantized.get(name);
      // int8 keeps the logical shape; int4 packs two values a byte into [n/2, 1], so only int8 shapes compare.
      if (q !== undefined && q.dtype === "I8" && q.shape.join(",") !== ref.shape.join(",")) {
        throw new TruecastError(
          "BASE_NOT_FOUND",
          `${what}; ${name} is [${q.shape.join(", ")}] in the checkpoint but [${ref.shape.join(", ")}] in ${base.dir}: not the base model the experiment was trained from; pass --base <folder> with that model`,
        );
      }
      refs.set(name, ref);
    }
    return { base, refs, all: byName, source };
  } catch (e) {
    await source.close();
    throw e;
  }
}
