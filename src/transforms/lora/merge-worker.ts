/**
 * A merge pool worker: runs {@link applyDeltaRows} on row ranges of blocks that live in SharedArrayBuffers,
 * so nothing is copied between threads. Started by pool.ts; one message in, one message out per task.
 */
import { parentPort } from "node:worker_threads";
import { threadKernel } from "./simd-kernel.js";
import type { WorkerReply, WorkerTask } from "./pool-protocol.js";

const port = parentPort;
if (port === null) throw new Error("merge-worker.js must be started as a worker thread");

let scratch = new Float32Array(0);

port.on("message", (task: WorkerTask) => {
  let reply: WorkerReply;
  try {
    if (scratch.length < task.cols) scratch = new Float32Array(task.cols);
    threadKernel()({
      left: new Float32Array(task.left),
      right: new Float32Array(task.right),
      rank: task.rank,
      cols: task.cols,
      scale: task.scale,
      blockStartRow: task.blockStartRow,
      rowStart: task.rowStart,
      rowEnd: task.rowEnd,
      values: new Float32Array(task.values),
      touched: new Uint8Array(task.touched),
      scratch,
    });
    reply = { id: task.id, ok: true };
  } catch (e) {
    reply = { id: task.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
