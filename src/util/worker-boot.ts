/**
 * A worker thread's first module while the main thread's young generation is held (young-generation.ts): it tells
 * the main thread, blocked in startHeldWorker, that this thread's heap is set up, then loads the worker module
 * proper, which finds `parentPort` as if it had been started directly.
 */
import { workerData } from "node:worker_threads";
import type { WorkerBootData } from "./young-generation.js";

const { started, module } = workerData as WorkerBootData;
const cell = new Int32Array(started);
Atomics.store(cell, 0, 1);
Atomics.notify(cell, 0);
await import(module);
