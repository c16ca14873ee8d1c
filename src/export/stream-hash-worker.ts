/**
 * Worker thread: sha256 of byte streams sent chunk by chunk, so that the export's main thread only moves bytes.
 * Each chunk is acknowledged once hashed, which lets the sender bound the bytes in flight.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import type { StreamHashReply, StreamHashTask } from "./hash-protocol.js";

const streams = new Map<number, Hash>();

parentPort?.on("message", (task: StreamHashTask) => {
  if (task.kind === "update") {
    let h = streams.get(task.stream);
    if (!h) {
      h = createHash("sha256");
      streams.set(task.stream, h);
    }
    h.update(task.chunk);
    parentPort?.postMessage({ kind: "ack", bytes: task.chunk.byteLength } satisfies StreamHashReply);
  } else {
    const h = streams.get(task.stream) ?? createHash("sha256");
    streams.delete(task.stream);
    parentPort?.postMessage({ kind: "digest", stream: task.stream, digest: h.digest("hex") } satisfies StreamHashReply);
  }
});
