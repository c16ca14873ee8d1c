/**
 * A merged weight as a lazy TensorRef: its bytes are computed block of rows by block of rows when a consumer
 * iterates `chunks()`, each block merged by the pool's workers (merge-rows.ts). In memory at a time: lora_A,
 * lora_B (and the DoRA magnitude) in float32, and two blocks in flight (base bytes, float32 values, output
 * bytes). Nothing grows with the size of the weight beyond A and B.
 *
 * Per element, in float32 (see kernel.ts): `v = fround(W + fround(acc · scale))`; DoRA then
 * `v = fround(fround(m / ‖v‖₂) · v)` with the norm over each output channel (rows of an `out×in` weight, columns
 * of an `in×out` one); then `v` is rounded once into the output dtype.
 */
import { TruecastError } from "../../errors.js";
import type { CastReport } from "../../dtype/cast.js";
import { dtypeSize, type DType, type FloatDType } from "../../dtype/table.js";
import type { TensorRef } from "../../sources/tensor-ref.js";
import { transposeF32 } from "./kernel.js";
import { combineCastReports, type MergeRowsResult } from "./merge-rows.js";
import type { MergePool } from "./pool.js";
import type { MergeCounts } from "./report.js";
import { blockReader } from "./block-reader.js";
import { readFloat32, type DecodableDType } from "./tensor-io.js";

/**
 * Float32 elements per block (512 rows of a 4096-wide weight; 4 MiB of bfloat16 in and out): the pool's per-block
 * messages, reads and writes are few (8 per 4096² weight): on the LoRA benchmark the main thread used a third
 * less CPU time than with 2¹⁹, and the workers less too. Memory stays low: the float32 values and flags are
 * touched only for rows that need the general code, so most of their pages are never mapped in.
 */
export const BLOCK_ELEMENTS = 1 << 21;

export interface MergedWeightSpec {
  /** Output tensor name (the base's). */
  readonly name: string;
  readonly module: string;
  /** The adapter weights file, for messages. */
  readonly file: string;
  readonly base: TensorRef;
  readonly baseDtype: DecodableDType;
  readonly outDtype: FloatDType;
  readonly rows: number;
  readonly cols: number;
  readonly layout: "out×in" | "in×out";
  readonly a: TensorRef;
  readonly b: TensorRef;
  readonly rank: number;
  readonly scale32: number;
  readonly magnitude: TensorRef | null;
  /** The report slot this tensor fills when it is produced. */
  readonly counts: MergeCounts;
  readonly pool: () => MergePool;
  /** Elements per block; default {@link BLOCK_ELEMENTS}. A block holds at least one row. */
  readonly blockElements?: number;
}

function sharedF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4));
}

function nonFinite(spec: MergedWeightSpec, at: number, value: number, baseValue: number): never {
  const row = Math.floor(at / spec.cols);
  const col = at % spec.cols;
  const what = Number.isNaN(value) ? "NaN" : Number.isFinite(value) ? `${value} (infinite in ${spec.outDtype})` : `${value}`;
  throw new TruecastError(
    "MERGE_NONFINITE",
    `${spec.file}: merging module "${spec.module}" gives ${what} in "${spec.name}" at [${row}, ${col}] where the base ` +
      `holds ${baseValue}; the adapter is broken (its training diverged or its tensors are corrupt). Nothing was written for it.`,
  );
}

/** The factors of the merge, in the layout the kernel wants (`left: rows×r`, `right: r×cols`). */
async function loadFactors(spec: MergedWeightSpec): Promise<{ left: Float32Array; right: Float32Array; magnitude: Float32Array | null }> {
  const a = await readFloat32(spec.a, spec.file);
  const b = await readFloat32(spec.b, spec.file);
  const left = sharedF32(spec.rows * spec.rank);
  const right = sharedF32(spec.rank * spec.cols);
  if (spec.layout === "out×in") {
    left.set(b); // B: [out=rows, r]
    right.set(a); // A: [r, in=cols]
  } else {
    transposeF32(a, spec.rank, spec.rows, left); // Aᵀ: [in=rows, r]
    transposeF32(b, spec.cols, spec.rank, right); // Bᵀ: [r, out=cols]
  }
  const magnitude = spec.magnitude === null ? null : await readFloat32(spec.magnitude, spec.file);
  const sharedMagnitude = magnitude === null ? null : sharedF32(magnitude.length);
  if (magnitude !== null) sharedMagnitude?.set(magnitude);
  return { left, right, magnitude: magnitude === null ? null : (sharedMagnitude as Float32Array).subarray(0, magnitude.length) };
}

/** Shared buffers for one block in flight; two sets alternate. */
interface BlockBuffers {
  readonly base: Uint8Array;
  readonly values: Float32Array;
  readonly touched: Uint8Array;
  readonly out: Uint8Array;
}

interface BlockDone {
  readonly startRow: number;
  /** Elements in the block. */
  readonly n: number;
  readonly buffers: BlockBuffers;
  readonly result: MergeRowsResult;
}

/**
 * Block buffers that merged weights gave back, for the next weight to use (fresh shared memory costs a page fault
 * per 4 KB and a share of garbage collection): at most {@link KEPT_SETS} sets, the latest kept.
 */
const keptSets: BlockBuffers[] = [];
const KEPT_SETS = 2;

function blockBuffers(elements: number, inSize: number, outSize: number): BlockBuffers {
  const i = keptSets.findIndex((s) => s.touched.byteLength === elements && s.base.byteLength === elements * inSize && s.out.byteLength === elements * outSize);
  if (i >= 0) return keptSets.splice(i, 1)[0] as BlockBuffers;
  return {
    base: new Uint8Array(new SharedArrayBuffer(elements * inSize)),
    values: sharedF32(elements),
    touched: new Uint8Array(new SharedArrayBuffer(elements)),
    out: new Uint8Array(new SharedArrayBuffer(elements * outSize)),
  };
}

function keepBuffers(sets: readonly BlockBuffers[]): void {
  keptSets.unshift(...sets);
  keptSets.length = Math.min(keptSets.length, KEPT_SETS);
}

/**
 * The base weight, block of rows by block of rows, merged by the pool. Two buffer sets alternate: while the
 * consumer handles one block, the next one is read and merged. The base's bytes are read straight into the
 * shared buffers the workers read (block-reader.ts).
 */
async function* mergedBlockResults(
  spec: MergedWeightSpec,
  factors: { left: Float32Array; right: Float32Array },
  dora: { rowMagnitude: Float32Array | null; colFactor: Float32Array | null },
  encode: boolean,
): AsyncGenerator<BlockDone> {
  const rowsPerBlock = Math.max(1, Math.floor((spec.blockElements ?? BLOCK_ELEMENTS) / Math.max(1, spec.cols)));
  const elements = Math.max(1, rowsPerBlock * spec.cols);
  const inSize = dtypeSize(spec.baseDtype);
  const outSize = dtypeSize(spec.outDtype);
  const sets: BlockBuffers[] = [0, 1].map(() => blockBuffers(elements, inSize, outSize));
  const blockBytes = rowsPerBlock * spec.cols * inSize;
  const reader = blockReader(spec.base, Math.max(8, Math.ceil(blockBytes / 8) * 8));
  let startRow = 0;
  let which = 0;
  const compute = async (): Promise<BlockDone | null> => {
    const buffers = sets[which] as BlockBuffers;
    which ^= 1;
    const got = await reader.fill(buffers.base.subarray(0, blockBytes));
    if (got === 0) return null;
    const n = got / inSize;
    const rowCount = n / spec.cols;
    const first = startRow;
    startRow += rowCount;
    const result = await spec.pool().mergeRows({
      left: factors.left, right: factors.right, rank: spec.rank, cols: spec.cols, scale: spec.scale32,
      blockStartRow: first, rowCount, baseBytes: buffers.base, baseDtype: spec.baseDtype,
      values: buffers.values, touched: buffers.touched, rowMagnitude: dora.rowMagnitude, colFactor: dora.colFactor,
      out: encode ? buffers.out : null, outDtype: encode ? spec.outDtype : null,
    });
    return { startRow: first, n, buffers, result };
  };
  let pending = compute();
  let finished = false;
  try {
    for (;;) {
      const block = await pending;
      if (block === null) {
        finished = true;
        return;
      }
      pending = compute();
      pending.catch(() => undefined); // a failure is rethrown by the await above; a consumer that stops early never sees it
      yield block;
    }
  } finally {
    // a consumer that stops early: let the block in flight finish with the shared buffers, then release the source
    await pending.catch(() => null);
    await reader.close();
    if (finished) keepBuffers(sets); // no worker is using them (after a failure, one still may)
  }
}

/** DoRA over columns needs every row first: one pass for `fround(m / fround(‖column‖₂))` (summed in double, in row order). */
async function columnFactors(spec: MergedWeightSpec, factors: { left: Float32Array; right: Float32Array }, magnitude: Float32Array): Promise<Float32Array> {
  const sumSq = new Float64Array(spec.cols);
  for await (const block of mergedBlockResults(spec, factors, { rowMagnitude: null, colFactor: null }, false)) {
    const v = block.buffers.values;
    for (let i = 0; i < block.n; i += spec.cols) {
      for (let j = 0; j < spec.cols; j++) {
        const x = v[i + j] as number;
        sumSq[j] = (sumSq[j] as number) + x * x;
      }
    }
  }
  const out = sharedF32(spec.cols);
  for (let j = 0; j < spec.cols; j++) out[j] = (magnitude[j] as number) / Math.fround(Math.sqrt(sumSq[j] as number));
  return out;
}

/**
 * The merged weight's bytes in chunks of at most `chunkSize`, copied out of the shared block buffers into
 * `alloc`'s buffers (the consumer's, recycled) or fresh ones; the report's counts are filled in at the end.
 */
async function* mergedChunks(spec: MergedWeightSpec, chunkSize: number, alloc: ((n: number) => Uint8Array) | undefined): AsyncGenerator<Uint8Array> {
  const { left, right, magnitude } = await loadFactors(spec);
  const channels = spec.layout === "out×in" ? spec.rows : spec.cols;
  if (magnitude !== null && magnitude.length !== channels) {
    throw new TruecastError("ADAPTER_INVALID", `${spec.file}: "${spec.magnitude?.name}" has ${magnitude.length} elements; module "${spec.module}" has ${channels} output channels`);
  }
  const byColumn = magnitude !== null && spec.layout === "in×out";
  const dora = {
    rowMagnitude: magnitude !== null && !byColumn ? magnitude : null,
    colFactor: byColumn && magnitude !== null ? await columnFactors(spec, { left, right }, magnitude) : null,
  };
  const outSize = dtypeSize(spec.outDtype);
  let changed = 0;
  let tooSmall = 0;
  let cast: CastReport | null = null;
  for await (const block of mergedBlockResults(spec, { left, right }, dora, true)) {
    const r = block.result;
    if (r.nonFinite !== null) nonFinite(spec, r.nonFinite.at, r.nonFinite.value, r.nonFinite.base);
    changed += r.changed;
    tooSmall += r.tooSmall;
    cast = combineCastReports(cast, r.cast);
    const bytes = block.n * outSize;
    for (let at = 0; at < bytes; at += chunkSize) {
      const n = Math.min(chunkSize, bytes - at);
      const chunk = alloc === undefined ? new Uint8Array(n) : alloc(n);
      chunk.set(block.buffers.out.subarray(at, at + n));
      yield chunk;
    }
  }
  spec.counts.changed = changed;
  spec.counts.tooSmall = tooSmall;
  spec.counts.cast = cast;
}

/** The merged weight as a TensorRef named like the base tensor, in the output dtype. */
export function mergedWeightRef(spec: MergedWeightSpec): TensorRef {
  const outDtype: DType = spec.outDtype;
  return {
    name: spec.name,
    dtype: outDtype,
    shape: [...spec.base.shape],
    byteLength: spec.rows * spec.cols * dtypeSize(outDtype),
    origin: `merge(${spec.module})`,
    chunks(chunkSize: number, alloc?: (byteLength: number) => Uint8Array): AsyncIterable<Uint8Array> {
      return mergedChunks(spec, chunkSize, alloc);
    },
  };
}
