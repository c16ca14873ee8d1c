/**
 * `truecast diff`: two models (any sources `openSource` opens) compared tensor by tensor, streamed side by side
 * with flat memory, ending in a verdict.
 */
import { TruecastError } from "../errors.js";
import { openSource, type OpenSourceOptions } from "../sources/open.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import { alignTensors } from "./align.js";
import { compareTensors, type TensorDiff } from "./compare-tensors.js";
import { verdictOf, type ShapeMismatch, type Verdict } from "./verdict.js";

/** One side of a diff, as the report names it. */
export interface DiffSide {
  readonly path: string;
  readonly kind: string;
  readonly tensors: number;
  readonly bytes: number;
  /** Wrapper prefix → how many of this side's names it was removed from to find their partner. */
  readonly prefixesRemoved: Readonly<Record<string, number>>;
}

export interface DiffReport {
  readonly command: "diff";
  readonly a: DiffSide;
  readonly b: DiffSide;
  /** The verdict; `identical` is true only for a bit-exact copy under the same names (exit code 0). */
  readonly verdict: Verdict & { readonly identical: boolean };
  readonly counts: {
    readonly compared: number;
    readonly bitIdentical: number;
    readonly changed: number;
    readonly dtypeChanged: number;
    readonly notCompared: number;
    readonly onlyInA: number;
    readonly onlyInB: number;
    readonly shapeMismatches: number;
  };
  readonly onlyInA: readonly string[];
  readonly onlyInB: readonly string[];
  readonly shapeMismatches: readonly ShapeMismatch[];
  /** Bytes read from both sides together. */
  readonly bytesRead: number;
  readonly seconds: number;
  /** Every compared pair, in a's order. */
  readonly tensors: readonly TensorDiff[];
}

export type DiffEvent = { readonly type: "progress"; readonly done: number; readonly total: number; readonly tensor: string };

export interface DiffModelsParams {
  readonly a: SourceModel;
  readonly b: SourceModel;
  /** Told of bytes read as they are. */
  readonly onEvent?: (e: DiffEvent) => void;
  /** Checked between chunks: once aborted, the diff stops with an error. */
  readonly signal?: AbortSignal;
}

function checkAbort(signal?: AbortSignal): void {
  if (!signal?.aborted) return;
  const by = typeof signal.reason === "string" && signal.reason.startsWith("SIG") ? ` by ${signal.reason}` : "";
  throw new TruecastError("INTERNAL", `interrupted${by}; the diff did not finish`);
}

function side(m: SourceModel, removed: ReadonlyMap<string, number>): DiffSide {
  return {
    path: m.path,
    kind: m.kind,
    tensors: m.tensors.length,
    bytes: m.tensors.reduce((n, t) => n + t.byteLength, 0),
    prefixesRemoved: Object.fromEntries(removed),
  };
}

function sameShape(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/** Compares two opened models (see the file comment). Neither is closed. */
export async function diffModels(params: DiffModelsParams): Promise<DiffReport> {
  const started = performance.now();
  const { a, b } = params;
  const alignment = alignTensors(a.tensors, b.tensors);
  const shapeMismatches: ShapeMismatch[] = [];
  const pairs = alignment.pairs.filter((p) => {
    if (sameShape(p.a.shape, p.b.shape)) return true;
    shapeMismatches.push({
      name: p.a.name,
      ...(p.b.name !== p.a.name ? { nameInB: p.b.name } : {}),
      dtypeA: p.a.dtype,
      dtypeB: p.b.dtype,
      shapeA: p.a.shape,
      shapeB: p.b.shape,
    });
    return false;
  });
  const total = pairs.reduce((n, p) => n + p.a.byteLength + p.b.byteLength, 0);
  let done = 0;
  const tensors: TensorDiff[] = [];
  for (const p of pairs) {
    checkAbort(params.signal);
    tensors.push(
      await compareTensors({
        a: p.a,
        b: p.b,
        onBytes: (n) => {
          checkAbort(params.signal);
          done += n;
          params.onEvent?.({ type: "progress", done, total, tensor: p.a.name });
        },
      }),
    );
  }
  const renamed = alignment.strippedA.size + alignment.strippedB.size > 0;
  const verdict = verdictOf({ tensors, onlyInA: alignment.onlyInA, onlyInB: alignment.onlyInB, shapeMismatches, renamed });
  const bitIdentical = tensors.filter((t) => t.bitIdentical).length;
  return {
    command: "diff",
    a: side(a, alignment.strippedA),
    b: side(b, alignment.strippedB),
    verdict: { ...verdict, identical: verdict.code === "IDENTICAL" },
    counts: {
      compared: tensors.length,
      bitIdentical,
      changed: tensors.length - bitIdentical,
      dtypeChanged: tensors.filter((t) => t.dtypeA !== t.dtypeB).length,
      notCompared: tensors.filter((t) => t.compared === "none").length,
      onlyInA: alignment.onlyInA.length,
      onlyInB: alignment.onlyInB.length,
      shapeMismatches: shapeMismatches.length,
    },
    onlyInA: alignment.onlyInA,
    onlyInB: alignment.onlyInB,
    shapeMismatches,
    bytesRead: done,
    seconds: (performance.now() - started) / 1000,
    tensors,
  };
}

/** Opens `a` and `b` (anything {@link openSource} accepts) and compares them; both are closed again. */
export async function diff(params: { a: string; b: string; open?: OpenSourceOptions } & Omit<DiffModelsParams, "a" | "b">): Promise<DiffReport> {
  const a = await openSource(params.a, params.open);
  try {
    const b = await openSource(params.b, params.open);
    try {
      return await diffModels({ ...params, a, b });
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}
