/**
 * Compares two float tensors element by element, chunk by chunk, and accumulates what changed from a to b. The
 * counts and error maxima are the dtype engine's loss accounting ({@link Tally}: a's value as the source, b's as
 * the result), so a diff of a model and its cast reads the same numbers the cast itself reports; to them it adds
 * NaN and infinity changes (a cast keeps both, a diff may see them come and go), the largest distance in ulps of the
 * narrower dtype, and whether the narrower side is exactly the round-to-nearest-even cast of the wider one.
 */
import { Buffer } from "node:buffer";
import { createCaster, type Caster } from "../dtype/cast.js";
import { hostOrderInput } from "../dtype/host-order.js";
import { bf16ValueTable, f16ValueTable } from "../dtype/tables.js";
import { dtypeBits, dtypeSize, type FloatDType } from "../dtype/table.js";
import { Tally } from "../dtype/tally.js";
import { UlpScale } from "./ulp.js";

/** What changed between two float tensors of the same shape. Counts are over elements; nothing is sampled. */
export interface ValueDiffReport {
  readonly elements: number;
  /** Elements whose value differs (NaN → NaN and -0 → +0 are not changes; a NaN that came or went is). */
  readonly changed: number;
  /** Finite values of a that are ±inf in b. */
  readonly toInfinity: number;
  /** Non-zero values of a that are ±0 in b. */
  readonly toZero: number;
  /** Values normal in a's dtype that are subnormal in b. */
  readonly toSubnormal: number;
  /** Elements NaN in b but not in a. */
  readonly nanAppeared: number;
  /** Elements NaN in a but not in b. */
  readonly nanVanished: number;
  /** Elements ±inf in a and something else in b. */
  readonly infChanged: number;
  /**
   * Finite values of a beyond the largest finite value of b's dtype that are that largest value in b (±65504 for
   * float16): what exporters that clamp instead of overflowing write.
   */
  readonly clamped: number;
  /** Over elements finite in a: largest |b − a|; Infinity when one became ±inf; 0 when none changed. */
  readonly maxAbsError: number;
  /** Largest |b − a| / |a| over elements finite and non-zero in a. */
  readonly maxRelError: number;
  /** Largest distance in ulps of {@link ulpDtype} over elements not NaN on either side. */
  readonly maxUlp: number;
  readonly ulpDtype: FloatDType;
  /**
   * When the dtypes differ: which side is the wider one that the other may have been cast from (`a` also when
   * neither is wider, float16 against bfloat16), and how many elements of the other side are not its
   * round-to-nearest-even cast (NaN payloads aside). null when the dtypes are the same.
   */
  readonly cast: { readonly from: "a" | "b"; readonly notNearestEven: number } | null;
}

/** Largest finite value of each float dtype. */
const MAX_FINITE: Record<FloatDType, number> = {
  F16: 65504,
  BF16: 3.3895313892515355e38,
  F32: 3.4028234663852886e38,
  F64: Number.MAX_VALUE,
};

/** Elements decoded and compared at a time (kept small so that the decoded values stay in cache). */
const BLOCK = 16_384;

function decode(dtype: FloatDType, hostBytes: Uint8Array, n: number, out: Float64Array): void {
  const offset = hostBytes.byteOffset;
  const buf = hostBytes.buffer;
  if (dtype === "F16" || dtype === "BF16") {
    const table = dtype === "F16" ? f16ValueTable() : bf16ValueTable();
    const bits = new Uint16Array(buf, offset, n);
    for (let i = 0; i < n; i++) out[i] = table[bits[i] as number] as number;
  } else if (dtype === "F32") {
    const v = new Float32Array(buf, offset, n);
    for (let i = 0; i < n; i++) out[i] = v[i] as number;
  } else {
    out.set(new Float64Array(buf, offset, n));
  }
}

/** The wider of two dtypes for the cast check, or null when they are the same; float16 against bfloat16 gives `a`. */
function castSource(a: FloatDType, b: FloatDType): "a" | "b" | null {
  if (a === b) return null;
  return dtypeBits(b) > dtypeBits(a) ? "b" : "a";
}

export class ValueDiff {
  private readonly tally: Tally;
  private readonly scale: UlpScale;
  private readonly from: "a" | "b" | null;
  private readonly caster: Caster | null;
  private readonly castOut: Uint8Array | null;
  private readonly xs = new Float64Array(BLOCK);
  private readonly ys = new Float64Array(BLOCK);
  private nanAppeared = 0;
  private nanVanished = 0;
  private infChanged = 0;
  private clamped = 0;
  private readonly maxB: number;
  private maxUlp = 0;
  private notNearestEven = 0;
  private readonly ulpDtype: FloatDType;

  constructor(readonly a: FloatDType, readonly b: FloatDType) {
    this.tally = new Tally(a, b);
    this.maxB = MAX_FINITE[b];
    this.from = castSource(a, b);
    const wide = this.from === "b" ? b : a;
    const narrow = this.from === "b" ? a : b;
    this.ulpDtype = narrow;
    this.scale = new UlpScale(narrow);
    this.caster = this.from === null ? null : createCaster(wide, narrow);
    this.castOut = this.from === null ? null : new Uint8Array(BLOCK * dtypeSize(narrow));
  }

  /** Counts `elements` elements whose bytes are the same on both sides (same dtype only): nothing changed. */
  same(elements: number): void {
    this.tally.elements += elements;
  }

  /** Compares little-endian chunks holding the same `elements` elements of a and of b. */
  compare(aBytes: Uint8Array, bBytes: Uint8Array, elements: number): void {
    const sa = dtypeSize(this.a);
    const sb = dtypeSize(this.b);
    for (let start = 0; start < elements; start += BLOCK) {
      const n = Math.min(BLOCK, elements - start);
      const ca = aBytes.subarray(start * sa, (start + n) * sa);
      const cb = bBytes.subarray(start * sb, (start + n) * sb);
      decode(this.a, hostOrderInput(ca, sa), n, this.xs);
      decode(this.b, hostOrderInput(cb, sb), n, this.ys);
      this.block(n);
      if (this.from !== null) this.checkCast(this.from === "a" ? ca : cb, this.from === "a" ? cb : ca, n);
    }
    this.tally.elements += elements;
  }

  private block(n: number): void {
    const { xs, ys, tally, scale } = this;
    const sameDtype = this.from === null;
    for (let i = 0; i < n; i++) {
      const x = xs[i] as number;
      const y = ys[i] as number;
      if (x === y) {
        if (!sameDtype) tally.observe(x, y); // a value may turn subnormal unchanged
        continue;
      }
      if (x !== x) {
        if (y !== y) continue; // NaN stays NaN, whatever the payload
        this.nanVanished++;
        tally.changed++;
        continue;
      }
      if (y !== y) {
        this.nanAppeared++;
        tally.changed++;
        continue;
      }
      if (x === Infinity || x === -Infinity) {
        this.infChanged++;
        tally.changed++;
        tally.offer(Infinity, Infinity);
        this.maxUlp = Infinity;
        continue;
      }
      if ((y === this.maxB || y === -this.maxB) && Math.abs(x) > this.maxB) this.clamped++;
      tally.observe(x, y);
      const d = scale.distance(x, y);
      if (d > this.maxUlp) this.maxUlp = d;
    }
  }

  /** Counts elements of the narrower side that are not the round-to-nearest-even cast of the wider side. */
  private checkCast(wide: Uint8Array, narrow: Uint8Array, n: number): void {
    const caster = this.caster as Caster;
    const size = narrow.byteLength / n;
    const expected = caster.castInto(wide, (this.castOut as Uint8Array).subarray(0, n * size));
    if (Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength).equals(narrow)) return;
    const wideValues = this.from === "a" ? this.xs : this.ys;
    const narrowValues = this.from === "a" ? this.ys : this.xs;
    for (let i = 0; i < n; i++) {
      let same = true;
      for (let k = i * size; k < (i + 1) * size; k++) {
        if (expected[k] !== narrow[k]) {
          same = false;
          break;
        }
      }
      if (same) continue;
      const w = wideValues[i] as number;
      const v = narrowValues[i] as number;
      if (w !== w && v !== v) continue; // both NaN: payload rules differ between libraries
      this.notNearestEven++;
    }
  }

  report(): ValueDiffReport {
    const r = this.tally.report();
    const infinite = this.infChanged > 0;
    return {
      elements: r.elements,
      changed: r.changed,
      toInfinity: r.toInfinity,
      toZero: r.toZero,
      toSubnormal: r.toSubnormal,
      nanAppeared: this.nanAppeared,
      nanVanished: this.nanVanished,
      infChanged: this.infChanged,
      clamped: this.clamped,
      maxAbsError: infinite ? Infinity : r.maxAbsError,
      maxRelError: infinite ? Infinity : r.maxRelError,
      maxUlp: r.toInfinity > 0 ? Infinity : this.maxUlp,
      ulpDtype: this.ulpDtype,
      cast: this.from === null ? null : { from: this.from, notNearestEven: this.notNearestEven },
    };
  }
}
