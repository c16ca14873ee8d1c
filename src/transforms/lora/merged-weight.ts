/**
 * A merged weight as a lazy TensorRef: its bytes are computed block of rows by block of rows when a consumer
 * iterates `chunks()`. In memory at a time: lora_A, lora_B (and the DoRA magnitude) in float32, one block of the
 * base weight, and its merged float32 values. Nothing grows with the size of the weight beyond A and B.
 *
 * Per element, in float32 (see kernel.ts): `v = fround(W + fround(acc · scale))`; DoRA then
 * `v = fround(fround(m / ‖v‖₂) · v)` with the norm over each output channel (rows of an `out×in` weight, columns
 * of an `in×out` one); then `v` is rounded once into the output dtype.
 */
import { TruecastError } from "../../errors.js";
import { createEncoder, decodeToFloat32 } from "../../dtype/cast.js";
import { dtypeSize, type DType, type FloatDType } from "../../dtype/table.js";
import type { TensorRef } from "../../sources/tensor-ref.js";
import { transposeF32 } from "./kernel.js";
import type { MergePool } from "./pool.js";
import type { MergeCounts } from "./report.js";
import { exactBlocks, readFloat32, type DecodableDType } from "./tensor-io.js";

/**
 * Float32 elements per block (8 MiB of values + 2 MiB of flags): large enough that the pool's per-block
 * messages cost nothing next to the work, small enough to keep memory flat for any model size.
 */
export const BLOCK_ELEMENTS = 1 << 21;

/** Smallest float32 magnitude that rounds to infinity in each output dtype (round-to-nearest-even). */
const OVERFLOW_AT: Record<FloatDType, number> = { F16: 65520, BF16: 2 ** 128 - 2 ** 119, F32: Infinity, F64: Infinity };

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
  return { left, right, magnitude };
}

interface Block {
  readonly startRow: number;
  readonly rowCount: number;
  readonly baseBytes: Uint8Array;
  readonly baseValues: Float32Array;
  /** `W + delta` in float32 (a view of the shared values buffer, valid until the next block). */
  readonly values: Float32Array;
  readonly touched: Uint8Array;
}

/**
 * Base blocks with the LoRA delta added (no DoRA yet). Two buffers alternate: while the consumer works on one
 * block (DoRA, checks, encoding), the next one is read, decoded and handed to the pool.
 */
async function* deltaBlocks(spec: MergedWeightSpec, left: Float32Array, right: Float32Array): AsyncGenerator<Block> {
  const rowsPerBlock = Math.max(1, Math.floor(BLOCK_ELEMENTS / Math.max(1, spec.cols)));
  const buffers = [0, 1].map(() => ({
    values: sharedF32(rowsPerBlock * spec.cols),
    touched: new Uint8Array(new SharedArrayBuffer(Math.max(1, rowsPerBlock * spec.cols))),
  }));
  const inSize = dtypeSize(spec.baseDtype);
  const blockBytes = rowsPerBlock * spec.cols * inSize;
  const ask = Math.max(8, Math.ceil(blockBytes / 8) * 8);
  const source = exactBlocks({ source: spec.base.chunks(ask), size: blockBytes, total: spec.base.byteLength, what: `${spec.base.origin}: "${spec.base.name}"` });
  let startRow = 0;
  let which = 0;
  const compute = async (): Promise<Block | null> => {
    const next = await source.next();
    if (next.done === true) return null;
    const baseBytes = next.value;
    const { values, touched } = buffers[which] as { values: Float32Array; touched: Uint8Array };
    which ^= 1;
    const n = baseBytes.byteLength / inSize;
    const rowCount = n / spec.cols;
    const baseValues = decodeToFloat32(spec.baseDtype, baseBytes);
    values.set(baseValues);
    const block: Block = { startRow, rowCount, baseBytes, baseValues, values: values.subarray(0, n), touched: touched.subarray(0, n) };
    startRow += rowCount;
    await spec.pool().applyDelta({ left, right, rank: spec.rank, cols: spec.cols, scale: spec.scale32, blockStartRow: block.startRow, rowCount, values, touched });
    return block;
  };
  let pending = compute();
  try {
    for (;;) {
      const block = await pending;
      if (block === null) return;
      pending = compute();
      pending.catch(() => undefined); // a failure is rethrown by the await above; a consumer that stops early never sees it
      yield block;
    }
  } finally {
    // a consumer that stops early: let the block in flight finish with the shared buffers, then release the source
    await pending.catch(() => null);
    await source.return(undefined);
  }
}

/** DoRA over columns needs every row first: one pass for `fround(m / ‖column‖₂)`, the merge pass applies it. */
async function columnFactors(spec: MergedWeightSpec, left: Float32Array, right: Float32Array, magnitude: Float32Array): Promise<Float32Array> {
  const sumSq = new Float64Array(spec.cols);
  for await (const block of deltaBlocks(spec, left, right)) {
    const v = block.values;
    for (let i = 0; i < v.length; i += spec.cols) {
      for (let j = 0; j < spec.cols; j++) {
        const x = v[i + j] as number;
        sumSq[j] = (sumSq[j] as number) + x * x;
      }
    }
  }
  const factors = new Float32Array(spec.cols);
  for (let j = 0; j < spec.cols; j++) factors[j] = (magnitude[j] as number) / Math.fround(Math.sqrt(sumSq[j] as number));
  return factors;
}

/** DoRA over rows, in place: each row scaled by `fround(m[row] / ‖row‖₂)`. */
function scaleRows(v: Float32Array, cols: number, startRow: number, magnitude: Float32Array): void {
  for (let i = 0; i < v.length; i += cols) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += (v[i + j] as number) ** 2;
    const factor = Math.fround((magnitude[startRow + i / cols] as number) / Math.fround(Math.sqrt(s)));
    for (let j = 0; j < cols; j++) v[i + j] = factor * (v[i + j] as number);
  }
}

/** Elements whose `size`-byte patterns differ, and unchanged elements whose delta was non-zero. */
export function countChanges(out: Uint8Array, ref: Uint8Array, touched: Uint8Array, size: number): { changed: number; tooSmall: number } {
  let changed = 0;
  let tooSmall = 0;
  const n = touched.length;
  const aligned = out.byteOffset % 4 === 0 && ref.byteOffset % 4 === 0;
  if (aligned && (size === 2 || size === 4 || size === 8)) {
    // compare whole elements as integers (host order is irrelevant to equality)
    const words = size === 2 ? 1 : size / 4;
    const a = size === 2 ? new Uint16Array(out.buffer, out.byteOffset, n) : new Uint32Array(out.buffer, out.byteOffset, n * words);
    const b = size === 2 ? new Uint16Array(ref.buffer, ref.byteOffset, n) : new Uint32Array(ref.buffer, ref.byteOffset, n * words);
    for (let i = 0; i < n; i++) {
      let same = a[i * words] === b[i * words];
      if (words === 2 && same) same = a[i * 2 + 1] === b[i * 2 + 1];
      if (!same) changed++;
      else if (touched[i] === 1) tooSmall++;
    }
    return { changed, tooSmall };
  }
  for (let i = 0, at = 0; i < n; i++, at += size) {
    let same = true;
    for (let k = 0; k < size; k++) if (out[at + k] !== ref[at + k]) same = false;
    if (!same) changed++;
    else if (touched[i] === 1) tooSmall++;
  }
  return { changed, tooSmall };
}

/** The merged weight's bytes, block by block, with the report's counts filled in at the end. */
async function* mergedBlocks(spec: MergedWeightSpec): AsyncGenerator<Uint8Array> {
  const { left, right, magnitude } = await loadFactors(spec);
  const channels = spec.layout === "out×in" ? spec.rows : spec.cols;
  if (magnitude !== null && magnitude.length !== channels) {
    throw new TruecastError("ADAPTER_INVALID", `${spec.file}: "${spec.magnitude?.name}" has ${magnitude.length} elements; module "${spec.module}" has ${channels} output channels`);
  }
  const colFactor = magnitude !== null && spec.layout === "in×out" ? await columnFactors(spec, left, right, magnitude) : null;
  const encoder = createEncoder(spec.outDtype);
  const baseEncoder = spec.outDtype === spec.baseDtype ? null : createEncoder(spec.outDtype);
  const outSize = dtypeSize(spec.outDtype);
  const overflowAt = OVERFLOW_AT[spec.outDtype];
  let changed = 0;
  let tooSmall = 0;
  for await (const block of deltaBlocks(spec, left, right)) {
    const v = block.values;
    if (magnitude !== null && colFactor === null) scaleRows(v, spec.cols, block.startRow, magnitude);
    if (colFactor !== null) {
      for (let i = 0; i < v.length; i += spec.cols) {
        for (let j = 0; j < spec.cols; j++) v[i + j] = (colFactor[j] as number) * (v[i + j] as number);
      }
    }
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as number;
      if (x - x !== 0 || Math.abs(x) >= overflowAt) {
        const w = block.baseValues[i] as number;
        if (w - w === 0) nonFinite(spec, block.startRow * spec.cols + i, x, w);
      }
    }
    const out = encoder.encode(v);
    const ref = baseEncoder === null ? block.baseBytes : baseEncoder.encode(block.baseValues);
    const counted = countChanges(out, ref, block.touched, outSize);
    changed += counted.changed;
    tooSmall += counted.tooSmall;
    yield out;
  }
  spec.counts.changed = changed;
  spec.counts.tooSmall = tooSmall;
  spec.counts.cast = encoder.report();
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
    async *chunks(chunkSize: number): AsyncIterable<Uint8Array> {
      for await (const block of mergedBlocks(spec)) {
        for (let at = 0; at < block.byteLength; at += chunkSize) yield block.subarray(at, Math.min(block.byteLength, at + chunkSize));
      }
    },
  };
}
