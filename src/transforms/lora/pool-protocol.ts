/** Messages between pool.ts and merge-worker.ts. Buffers are whole SharedArrayBuffers (views start at 0). */
import type { FloatDType } from "../../dtype/table.js";
import type { MergeRowsResult } from "./merge-rows.js";
import type { DecodableDType } from "./tensor-io.js";

/** A {@link MergeRowsTask} with its typed arrays sent as the shared buffers under them. */
export interface WorkerTask {
  readonly id: number;
  readonly left: SharedArrayBuffer;
  readonly right: SharedArrayBuffer;
  readonly rank: number;
  readonly cols: number;
  readonly scale: number;
  readonly blockStartRow: number;
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly baseBytes: SharedArrayBuffer;
  readonly baseDtype: DecodableDType;
  readonly values: SharedArrayBuffer;
  readonly touched: SharedArrayBuffer;
  readonly rowMagnitude: SharedArrayBuffer | null;
  readonly colFactor: SharedArrayBuffer | null;
  readonly out: SharedArrayBuffer | null;
  readonly outDtype: FloatDType | null;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: MergeRowsResult }
  | { readonly id: number; readonly ok: false; readonly message: string };
