import { TruecastError } from "../errors.js";
import { readSafetensorsHeader } from "../formats/safetensors/read.js";
import { openSafetensorsFolder, safetensorsFilesIn } from "../sources/safetensors.js";
import type { RangeHasher } from "./hasher.js";
import { SHARD_METADATA, type ExportPlan, type PlannedShard } from "./plan.js";
import type { WrittenTensor } from "./written.js";
import type { TensorTable } from "../formats/safetensors/tensor-table.js";
import { sameName, type NameColumn } from "../formats/safetensors/name-table.js";

/** Does row `i` of `a` describe the same tensor at the same place as row `j` of `b`? */
function sameRow(a: TensorTable<NameColumn>, i: number, b: TensorTable<NameColumn>, j: number): boolean {
  if (!sameName(a.names, i, b.names, j) || a.dtype(i) !== b.dtype(j) || a.begin(i) !== b.begin(j) || a.end(i) !== b.end(j)) return false;
  const rank = a.rank(i);
  if (rank !== b.rank(j)) return false;
  for (let k = 0; k < rank; k++) if (a.dim(i, k) !== b.dim(j, k)) return false;
  return true;
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
  const read = header.tensors;
  const planned = shard.table;
  if (read.count !== planned.count) fail(`holds ${read.count} tensors instead of ${planned.count}`);
  // Both are in offset order, so a file that holds the plan holds it row for row.
  for (let i = 0; i < read.count; i++) {
    if (!sameRow(read, i, planned, i)) {
      fail(`tensor "${read.name(i)}" reads back as ${read.dtype(i)}[${read.shape(i).join(", ")}] at ${read.begin(i)}..${read.end(i)}, not as planned`);
    }
  }
}

/** A written tensor and where the file holds it. */
export interface VerifyItem {
  tensor: Pick<WrittenTensor, "name" | "digest">;
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
  if (!params.plan.sharded) {
    // One shard, already re-read with the strict reader and found to hold its plan row for row (verifyShardHeader):
    // what is left to prove is that a reader finds that file and nothing competing with it. (Reading its header a
    // third time would cost a million-tensor shard another 150 MB.)
    const files = await safetensorsFilesIn(params.dir);
    const only = params.plan.shards[0]?.fileName;
    if (files.length !== 1 || files[0] !== only) {
      throw new TruecastError("VERIFY_FAILED", `the written folder holds ${files.join(", ") || "no weights"} where only ${only} was planned`);
    }
    return;
  }
  const model = await openSafetensorsFolder(params.dir);
  try {
    // A folder opens shard by shard (sorted names: the plan's order), each in offset order (the plan's file order),
    // so the folder holds the plan when it lists the plan's tensors in the plan's order.
    let s = 0;
    let k = 0;
    const shards = params.plan.shards;
    for (const t of model.tensors) {
      while (s < shards.length && k >= (shards[s] as PlannedShard).table.count) {
        s++;
        k = 0;
      }
      const shard = shards[s];
      if (shard === undefined || t.name !== shard.table.name(k) || !t.origin.endsWith(shard.fileName)) {
        throw new TruecastError("VERIFY_FAILED", `the written folder holds tensor "${t.name}" in ${t.origin}, which was not planned there`);
      }
      k++;
    }
    for (; s < shards.length; s++, k = 0) {
      const shard = shards[s] as PlannedShard;
      if (k < shard.table.count) throw new TruecastError("VERIFY_FAILED", `the written folder lacks tensor "${shard.table.name(k)}"`);
    }
  } finally {
    await model.close();
  }
}
