import { TruecastError } from "../errors.js";
import { handleAccess, openForRead } from "../formats/safetensors/read.js";
import { readHeaderPieces } from "../formats/safetensors/header-pieces.js";
import { HEADER_LENGTH_PREFIX } from "../formats/safetensors/spec.js";
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
 * dtypes, shapes, offsets and metadata, and the planned size. The header is read in pieces of about 1 MB, each
 * compared with the plan's rows as it comes (a million-tensor header is never held whole, nor a second table of
 * it); the pieces are the strict reader's, and matching the plan row for row gives what the whole-header rules
 * would (unique names, contiguous offsets, byte lengths: the plan was checked with them). (Each tensor's bytes are
 * checked on their own, as soon as they are written: see {@link verifyTensors}.)
 */
export async function verifyShardHeader(params: { path: string; shard: PlannedShard }): Promise<void> {
  const { shard, path } = params;
  const fail = (what: string): never => {
    throw new TruecastError("VERIFY_FAILED", `${shard.fileName} was written but ${what}; the disk or file system changed it`);
  };
  const handle = await openForRead(path);
  try {
    const size = (await handle.stat()).size;
    if (size !== shard.fileSize) fail(`is ${size} bytes instead of ${shard.fileSize}`);
    const planned = shard.table;
    const metadata = JSON.stringify(SHARD_METADATA);
    let k = 0;
    let members = 0;
    const headerSize = await readHeaderPieces({
      file: handleAccess(handle, size, path),
      path,
      each: (piece) => {
        // The metadata is written first: in the first piece, and only there.
        if ((piece.start === HEADER_LENGTH_PREFIX) !== (piece.metadata !== null) || (piece.metadata !== null && JSON.stringify(piece.metadata) !== metadata)) {
          fail(`its metadata is not ${metadata}`);
        }
        members += piece.members;
        const read = piece.table;
        for (let i = piece.from; i < read.count; i++, k++) {
          if (k >= planned.count) fail(`holds more than ${planned.count} tensors`);
          // The header lists the tensors in file order, as the plan does.
          if (!sameRow(read, i, planned, k)) {
            fail(`tensor "${read.name(i)}" reads back as ${read.dtype(i)}[${read.shape(i).join(", ")}] at ${read.begin(i)}..${read.end(i)}, not as planned`);
          }
        }
      },
    });
    if (k !== planned.count) fail(`holds ${k} tensors instead of ${planned.count}`);
    // One member per tensor and the metadata: no second `__metadata__` key.
    if (members !== planned.count + 1) fail(`its header holds ${members} entries instead of ${planned.count + 1}`);
    if (HEADER_LENGTH_PREFIX + headerSize !== shard.headerSize) fail(`its header is ${headerSize} bytes instead of ${shard.headerSize - HEADER_LENGTH_PREFIX}`);
  } finally {
    await handle.close();
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
 * tensors and bytes verified. With `pass` (RangeHasher.startPass), the same reads feed the file's SHA-256.
 */
export async function verifyTensors(params: {
  path: string;
  shardName: string;
  items: readonly VerifyItem[];
  hasher: RangeHasher;
  pass?: number;
}): Promise<{ tensors: number; bytes: number }> {
  const digests = await params.hasher.hash(params.path, params.items.map((i) => i.range), params.pass);
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
