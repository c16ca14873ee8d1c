import { TruecastError } from "../errors.js";
import { readSafetensorsHeader } from "../formats/safetensors/read.js";
import { openSafetensorsFolder } from "../sources/safetensors.js";
import type { RangeHasher } from "./hasher.js";
import { SHARD_METADATA, type ExportPlan, type PlannedShard } from "./plan.js";
import type { WrittenTensor } from "./write-shard.js";

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Re-read one written shard's header with the strict reader and check it against its plan: the same tensors,
 * dtypes, shapes, offsets and metadata, and the planned size. (Each tensor's bytes are checked on their own, as
 * soon as they are written: see {@link verifyTensors}.)
 */
export async function verifyShardHeader(params: { path: string; shard: PlannedShard }): Promise<void> {
  const { shard } = params;
  const header = await readSafetensorsHeader(params.path);
  const fail = (what: string): never => {
    throw new TruecastError("VERIFY_FAILED", `${shard.fileName} was written but ${what}; the disk or file system changed it`);
  };
  if (header.fileSize !== shard.fileSize) fail(`is ${header.fileSize} bytes instead of ${shard.fileSize}`);
  if (JSON.stringify(header.metadata) !== JSON.stringify(SHARD_METADATA)) fail("its metadata is not {\"format\":\"pt\"}");
  const planned = new Map(shard.tensors.map((t) => [t.entry.name, t.entry]));
  if (header.entries.length !== planned.size) fail(`holds ${header.entries.length} tensors instead of ${planned.size}`);
  for (const e of header.entries) {
    const p = planned.get(e.name);
    if (!p || p.dtype !== e.dtype || !sameShape(p.shape, e.shape) || p.begin !== e.begin || p.end !== e.end) {
      fail(`tensor "${e.name}" reads back as ${e.dtype}[${e.shape.join(", ")}] at ${e.begin}..${e.end}, not as planned`);
    }
  }
}

/** A written tensor and where the file holds it. */
export interface VerifyItem {
  tensor: WrittenTensor;
  range: { start: number; length: number };
}

/** Most tensors verified by one hashing task. */
export const VERIFY_BATCH_TENSORS = 4096;
/** A batch is sent once it holds this many bytes (a large tensor goes alone, as soon as it is written). */
export const VERIFY_BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Re-read tensors' bytes from the written file (on the hashing thread, one task for the batch) and require for
 * each the digest taken while it was written — for a kept tensor, the digest of its source bytes. Returns the
 * tensors and bytes verified.
 */
export async function verifyTensors(params: {
  path: string;
  shardName: string;
  items: readonly VerifyItem[];
  hasher: RangeHasher;
}): Promise<{ tensors: number; bytes: number }> {
  const digests = await params.hasher.hash(params.path, params.items.map((i) => i.range));
  let bytes = 0;
  params.items.forEach(({ tensor, range }, i) => {
    if (digests[i] !== tensor.digest) {
      throw new TruecastError(
        "VERIFY_FAILED",
        `${params.shardName} was written but tensor "${tensor.name}" does not read back as the bytes written; the disk or file system changed it`,
      );
    }
    bytes += range.length;
  });
  return { tensors: params.items.length, bytes };
}

/** Open the finished folder as any reader would (index and shards must agree) and check it holds the plan. */
export async function verifyFolder(params: { dir: string; plan: ExportPlan }): Promise<void> {
  const model = await openSafetensorsFolder(params.dir);
  try {
    const seen = new Set<string>();
    for (const t of model.tensors) {
      const shard = params.plan.weightMap.get(t.name);
      if (shard === undefined || !t.origin.endsWith(shard)) {
        throw new TruecastError("VERIFY_FAILED", `the written folder holds tensor "${t.name}" in ${t.origin}, which was not planned there`);
      }
      seen.add(t.name);
    }
    for (const name of params.plan.weightMap.keys()) {
      if (!seen.has(name)) throw new TruecastError("VERIFY_FAILED", `the written folder lacks tensor "${name}"`);
    }
  } finally {
    await model.close();
  }
}
