import type { CastReport } from "../dtype/cast.js";
import type { FloatDType } from "../dtype/table.js";

/** Messages between the export and its casting workers. */
export interface CastTask {
  readonly id: number;
  readonly from: FloatDType;
  readonly to: FloatDType;
  readonly input: Uint8Array;
  /** A buffer of the output's exact size to convert into (recycled by the sender), or none. */
  readonly output: Uint8Array | null;
}

export type CastReply =
  | { readonly id: number; readonly input: Uint8Array; readonly output: Uint8Array; readonly report: CastReport }
  | { readonly id: number; readonly error: string; readonly code: string };
