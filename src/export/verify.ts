import { createHash } from "node:crypto";
import { basename } from "node:path";
import { TruecastError } from "../errors.js";
import { openSafetensorsFolder } from "../sources/safetensors.js";
import { prefetch } from "../util/prefetch.js";
import type { ExportPlan } from "./plan.js";
import type { WrittenTensor } from "./write-shard.js";
import { CHUNK_SIZE, READ_AHEAD } from "./write-shard.js";

export interface VerifyResult {
  /** Tensors whose re-read bytes hash to what was written (and, when kept, to the source bytes). */
  readonly tensorsVerified: number;
  readonly bytesVerified: number;
}

/**
 * Re-read a written folder with the strict reader and check it against the plan: the same tensors, dtypes and
 * shapes in the planned shards, and every tensor's bytes hashing to the hash taken while it was written.
 */
export async function verifyExport(params: {
  dir: string;
  plan: ExportPlan;
  written: readonly WrittenTensor[];
  onProgress?: (bytes: number) => void;
}): Promise<VerifyResult> {
  const model = await openSafetensorsFolder(params.dir);
  try {
    const byName = new Map(params.written.map((w) => [w.name, w]));
    if (model.tensors.length !== byName.size) {
      throw new TruecastError("VERIFY_FAILED", `the written folder holds ${model.tensors.length} tensors but ${byName.size} were written`);
    }
    let bytes = 0;
    for (const ref of model.tensors) {
      const w = byName.get(ref.name);
      const planned = params.plan.weightMap.get(ref.name);
      if (!w || planned === undefined) {
        throw new TruecastError("VERIFY_FAILED", `the written folder holds tensor "${ref.name}", which was not planned`);
      }
      if (ref.dtype !== w.dtype || ref.shape.join(",") !== w.shape.join(",") || basename(ref.origin) !== planned) {
        throw new TruecastError(
          "VERIFY_FAILED",
          `tensor "${ref.name}" reads back as ${ref.dtype}[${ref.shape.join(", ")}] in ${ref.origin}, but ${w.dtype}[${w.shape.join(", ")}] in ${planned} was written`,
        );
      }
      const hash = createHash("sha256");
      for await (const chunk of prefetch(ref.chunks(CHUNK_SIZE), READ_AHEAD)) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        params.onProgress?.(bytes);
      }
      if (hash.digest("hex") !== w.sha256) {
        throw new TruecastError("VERIFY_FAILED", `tensor "${ref.name}" in ${ref.origin} does not read back as the bytes written; the disk or file system changed them`);
      }
    }
    return { tensorsVerified: model.tensors.length, bytesVerified: bytes };
  } finally {
    await model.close();
  }
}
