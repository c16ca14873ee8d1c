/**
 * Small merged or replaced tensors, computed whole: the `lora_bias` merge (`bias + lora_B.bias · scaling`) and
 * full adapter tensors (modules_to_save, saved base layers, trained biases) that replace the base's.
 */
import { TruecastError } from "../../errors.js";
import { createEncoder } from "../../dtype/cast.js";
import { dtypeSize, type FloatDType } from "../../dtype/table.js";
import type { TensorRef } from "../../sources/tensor-ref.js";
import { countChanges } from "./merge-rows.js";
import type { MergeCounts } from "./report.js";
import { readFloat32 } from "./tensor-io.js";

/** `chunks()` for a tensor computed whole when it is read. */
function sliced(compute: () => Promise<Uint8Array>): (chunkSize: number) => AsyncIterable<Uint8Array> {
  return async function* (chunkSize: number) {
    const bytes = await compute();
    for (let at = 0; at < bytes.byteLength; at += chunkSize) yield bytes.subarray(at, Math.min(bytes.byteLength, at + chunkSize));
  };
}

/** `bias' = fround(bias + fround(lora_B.bias · scale))`, rounded once into `outDtype`. */
export function mergedBiasRef(params: {
  module: string;
  file: string;
  base: TensorRef;
  bBias: TensorRef;
  scale32: number;
  outDtype: FloatDType;
  counts: MergeCounts;
}): TensorRef {
  const { base, bBias, outDtype, counts } = params;
  const n = counts.elements;
  const compute = async (): Promise<Uint8Array> => {
    const w = await readFloat32(base, base.origin);
    const d = await readFloat32(bBias, params.file);
    if (d.length !== w.length) {
      throw new TruecastError("ADAPTER_INVALID", `${params.file}: "${bBias.name}" has ${d.length} elements; "${base.name}" has ${w.length}`);
    }
    const v = new Float32Array(n);
    const touched = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const delta = Math.fround((d[i] as number) * params.scale32);
      touched[i] = delta !== 0 ? 1 : 0;
      v[i] = (w[i] as number) + delta;
      const x = v[i] as number;
      if (x - x !== 0 && (w[i] as number) - (w[i] as number) === 0) {
        throw new TruecastError("MERGE_NONFINITE", `${params.file}: merging lora_B.bias of module "${params.module}" gives ${x} in "${base.name}" at [${i}] where the base holds ${w[i]}; the adapter is broken.`);
      }
    }
    const encoder = createEncoder(outDtype);
    const out = encoder.encode(v);
    const ref = createEncoder(outDtype).encode(w);
    const { changed, tooSmall } = countChanges(out, ref, touched, dtypeSize(outDtype));
    counts.changed = changed;
    counts.tooSmall = tooSmall;
    counts.cast = encoder.report();
    return out;
  };
  return {
    name: base.name,
    dtype: outDtype,
    shape: [...base.shape],
    byteLength: n * dtypeSize(outDtype),
    origin: `merge(${params.module}.lora_B.bias)`,
    chunks: sliced(compute),
  };
}

/**
 * An adapter tensor under the name of the base tensor it replaces. Passed through byte for byte when it is
 * already in `outDtype`; otherwise rounded once into it (as PEFT's load into the model's dtype would).
 */
export function replacementRef(params: { target: string; tensor: TensorRef; outDtype: FloatDType | null; file: string }): TensorRef {
  const { tensor, outDtype } = params;
  if (outDtype === null || outDtype === tensor.dtype) {
    return { name: params.target, dtype: tensor.dtype, shape: tensor.shape, byteLength: tensor.byteLength, origin: tensor.origin, chunks: (c) => tensor.chunks(c) };
  }
  const numel = tensor.shape.reduce((a, b) => a * b, 1);
  return {
    name: params.target,
    dtype: outDtype,
    shape: [...tensor.shape],
    byteLength: numel * dtypeSize(outDtype),
    origin: `${tensor.origin} (${tensor.dtype} → ${outDtype})`,
    chunks: sliced(async () => createEncoder(outDtype).encode(await readFloat32(tensor, params.file))),
  };
}
