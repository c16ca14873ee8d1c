/**
 * Worker thread: converts one chunk per task with the dtype engine and sends the bytes and the chunk's report back.
 * Given the export's shared memory first (cast-arena.ts), its SIMD kernel lives there and converts the chunks that
 * lie there in place; only their report goes back.
 */
import { parentPort } from "node:worker_threads";
import { createCaster } from "../dtype/cast.js";
import { loadSimdCasts, setThreadSimdCasts } from "../dtype/kernels/index.js";
import { TruecastError } from "../errors.js";
import type { Region } from "./cast-arena.js";
import type { CastInit, CastReply, CastTask } from "./cast-protocol.js";

function owns(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

/** The shared memory's buffer, once given. */
let shared: SharedArrayBuffer | null = null;

function bytesOf(b: Uint8Array | Region): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (shared === null) throw new TruecastError("INTERNAL", "a conversion thread was sent a chunk in a memory it was not given");
  return new Uint8Array(shared, b.at, b.byteLength);
}

parentPort?.on("message", (msg: CastTask | CastInit) => {
  if ("memory" in msg) {
    shared = msg.memory.buffer;
    const casts = loadSimdCasts(undefined, { memory: msg.memory, shared: true, base: msg.base });
    if (casts !== null) setThreadSimdCasts(casts);
    return;
  }
  const task = msg;
  let reply: CastReply;
  try {
    const caster = createCaster(task.from, task.to);
    const input = bytesOf(task.input);
    const output = task.output ? caster.castInto(input, bytesOf(task.output)) : caster.cast(input);
    reply = {
      id: task.id,
      ...(task.input instanceof Uint8Array ? { input } : {}),
      ...(task.output instanceof Uint8Array || task.output === null ? { output } : {}),
      report: caster.report(),
    };
  } catch (e) {
    reply = { id: task.id, error: (e as Error).message, code: e instanceof TruecastError ? e.code : "INTERNAL" };
  }
  const transfer = "report" in reply ? [reply.input, reply.output].filter((b): b is Uint8Array => b !== undefined && owns(b)).map((b) => b.buffer as ArrayBuffer) : [];
  parentPort?.postMessage(reply, transfer);
});
