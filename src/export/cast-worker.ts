/** Worker thread: converts one chunk per task with the dtype engine and sends the bytes and the chunk's report back. */
import { parentPort } from "node:worker_threads";
import { createCaster } from "../dtype/cast.js";
import { TruecastError } from "../errors.js";
import type { CastReply, CastTask } from "./cast-protocol.js";

function owns(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

parentPort?.on("message", (task: CastTask) => {
  let reply: CastReply;
  try {
    const caster = createCaster(task.from, task.to);
    const output = task.output ? caster.castInto(task.input, task.output) : caster.cast(task.input);
    reply = { id: task.id, input: task.input, output, report: caster.report() };
  } catch (e) {
    reply = { id: task.id, error: (e as Error).message, code: e instanceof TruecastError ? e.code : "INTERNAL" };
  }
  const transfer = "output" in reply ? [reply.input, reply.output].filter(owns).map((b) => b.buffer as ArrayBuffer) : [];
  parentPort?.postMessage(reply, transfer);
});
