/**
 * A merge pool worker: runs {@link mergeRows} on its share of a block whose buffers are SharedArrayBuffers,
 * so nothing is copied between threads. Started by pool.ts; one message in, one message out per task.
 */
import { parentPort } from "node:worker_threads";
import { mergeRows } from "./merge-rows.js";
import type { WorkerReply, WorkerTask } from "./pool-protocol.js";

const port = parentPort;
if (port === null) throw new Error("merge-worker.js must be started as a worker thread");

port.on("message", (task: WorkerTask) => {
  let reply: WorkerReply;
  try {
    const result = mergeRows({
      left: new Float32Array(task.left),
      right: new Float32Array(task.right),
      rank: task.rank,
      cols: task.cols,
      scale: task.scale,
      blockStartRow: task.blockStartRow,
      rowStart: task.rowStart,
      rowEnd: task.rowEnd,
      baseBytes: new Uint8Array(task.baseBytes),
      baseDtype: task.baseDtype,
      values: new Float32Array(task.values),
      touched: new Uint8Array(task.touched),
      rowMagnitude: task.rowMagnitude === null ? null : new Float32Array(task.rowMagnitude),
      colFactor: task.colFactor === null ? null : new Float32Array(task.colFactor),
      out: task.out === null ? null : new Uint8Array(task.out),
      outDtype: task.outDtype,
    });
    reply = { id: task.id, ok: true, result };
  } catch (e) {
    reply = { id: task.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
