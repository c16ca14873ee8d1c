/** Messages between pool.ts and merge-worker.ts. Buffers are whole SharedArrayBuffers (views start at 0). */
export interface WorkerTask {
  readonly id: number;
  /** `rows × rank` float32 of the whole weight. */
  readonly left: SharedArrayBuffer;
  /** `rank × cols` float32. */
  readonly right: SharedArrayBuffer;
  /** The block's values, float32, `W` in and `W + delta` out. */
  readonly values: SharedArrayBuffer;
  /** The block's "delta is non-zero" flags, one byte per element. */
  readonly touched: SharedArrayBuffer;
  readonly rank: number;
  readonly cols: number;
  readonly scale: number;
  readonly blockStartRow: number;
  readonly rowStart: number;
  readonly rowEnd: number;
}

export type WorkerReply = { readonly id: number; readonly ok: true } | { readonly id: number; readonly ok: false; readonly message: string };
