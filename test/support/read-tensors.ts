import type { SourceModel } from "../../src/sources/tensor-ref.js";
import { readAllBytes } from "../../src/transforms/lora/tensor-io.js";

/** A tensor read whole, for comparisons in tests. */
export interface Tensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Every tensor of an opened source, by name, read whole; the source is closed afterwards. */
export async function readAll(model: SourceModel): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  try {
    for (const t of model.tensors) out.set(t.name, { dtype: t.dtype, shape: t.shape, bytes: await readAllBytes(t) });
  } finally {
    await model.close();
  }
  return out;
}
