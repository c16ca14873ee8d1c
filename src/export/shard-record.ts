/**
 * What an export keeps of a written, verified shard so that a resumed run can report it without reading it again:
 * each tensor's digest and loss report (the report and the model card list them) and what verification counted.
 * Plain JSON (a float that is not finite, as a cast's maximum error can be, is written as a string), checked field by
 * field when read back: a record that does not fit its planned shard exactly is refused, and the shard is produced again.
 */
import type { CastReport } from "../dtype/cast.js";
import { isFloatDType } from "../dtype/table.js";
import type { PlannedShard } from "./plan.js";
import { WrittenShard } from "./written.js";

export interface ShardRecord {
  /** One digest per tensor, in file order (util/digest.ts). */
  readonly digests: readonly string[];
  /** One loss report per tensor, null for a tensor copied as it was. */
  readonly casts: readonly (Readonly<Record<string, number | string>> | null)[];
  /** What the verification of the shard counted. */
  readonly verified: { readonly tensors: number; readonly bytes: number };
}

export interface RestoredShard {
  readonly written: WrittenShard;
  readonly verified: { readonly tensors: number; readonly bytes: number };
}

const DIGEST = /^[a-z0-9-]{1,32}:[0-9a-f]{8,128}$/;
const CAST_COUNTS = ["elements", "changed", "toInfinity", "toZero", "toSubnormal", "nan"] as const;
const CAST_ERRORS = ["maxAbsError", "maxRelError"] as const;

/** The record of a written shard and its verification. */
export function shardRecord(written: WrittenShard, verified: { tensors: number; bytes: number }): ShardRecord {
  const n = written.shard.table.count;
  const encode = (c: CastReport): Record<string, number | string> => {
    const out: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(c)) out[k] = typeof v === "number" && !Number.isFinite(v) ? String(v) : (v as number | string);
    return out;
  };
  return {
    digests: Array.from({ length: n }, (_, k) => written.digest(k)),
    casts: Array.from({ length: n }, (_, k) => {
      const c = written.cast(k);
      return c ? encode(c) : null;
    }),
    verified: { tensors: verified.tensors, bytes: verified.bytes },
  };
}

const count = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A loss report read back, or null when it is not one for row `k` of `shard`. */
function decodeCast(v: unknown, shard: PlannedShard, k: number): CastReport | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const source = shard.sources[k];
  if (source === undefined || !isFloatDType(source.dtype) || o.from !== source.dtype || o.to !== shard.table.dtype(k)) return null;
  const out: Record<string, unknown> = {};
  for (const [key, x] of Object.entries(o)) {
    if ((CAST_ERRORS as readonly string[]).includes(key)) {
      const n = typeof x === "string" ? Number(x) : x;
      if (typeof n !== "number" || Number.isNaN(n) || n < 0 || (typeof x === "string" && Number.isFinite(n))) return null;
      out[key] = n;
    } else out[key] = x;
  }
  if (!CAST_COUNTS.every((key) => count(out[key])) || !CAST_ERRORS.every((key) => typeof out[key] === "number")) return null;
  return out as unknown as CastReport;
}

/**
 * The written shard a record describes, or null when `record` is not a record of exactly this planned shard
 * (tensor count, digests, loss reports that match each tensor's source and output dtype, verified counts).
 */
export function restoreShard(shard: PlannedShard, record: unknown): RestoredShard | null {
  if (record === null || typeof record !== "object") return null;
  const r = record as { digests?: unknown; casts?: unknown; verified?: unknown };
  const n = shard.table.count;
  if (!Array.isArray(r.digests) || !Array.isArray(r.casts) || r.digests.length !== n || r.casts.length !== n) return null;
  const verified = r.verified as { tensors?: unknown; bytes?: unknown } | null | undefined;
  if (!verified || verified.tensors !== n || verified.bytes !== shard.dataSize) return null;
  const written = new WrittenShard(shard);
  for (let k = 0; k < n; k++) {
    const digest: unknown = r.digests[k];
    if (typeof digest !== "string" || !DIGEST.test(digest)) return null;
    const raw: unknown = r.casts[k];
    const converting = shard.sources[k]?.dtype !== shard.table.dtype(k);
    if ((raw === null) === converting) return null;
    const cast = raw === null ? undefined : decodeCast(raw, shard, k);
    if (cast === null) return null;
    written.add(k, digest, cast);
  }
  return { written, verified: { tensors: n, bytes: shard.dataSize } };
}
