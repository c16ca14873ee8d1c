/**
 * Child process of young-generation.test.ts: optionally holds the main thread's young generation as the CLI does,
 * starts worker threads through startWorker while it allocates objects that partly survive (as a streaming export
 * does: short-lived buffers and records, some kept for a while), and prints one JSON line with the largest size of
 * the main thread's new space it saw and its size at the end, in bytes.
 *
 *   node dist/test/util/young-generation-child.js held|unheld <workers>
 */
import { getHeapSpaceStatistics } from "node:v8";
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../src/util/worker.js";
import { holdYoungGeneration } from "../../src/util/young-generation.js";

const [mode, count] = process.argv.slice(2);
if (mode === "held") holdYoungGeneration();

function newSpace(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? -1;
}

let largest = newSpace();
const kept: object[] = [];
let sink = 0;
/** One slice of work: 50,000 small records, one in ten kept (the oldest half dropped past 100,000). */
function allocate(): void {
  for (let i = 0; i < 50_000; i++) {
    const record = { i, pair: [i, i + 1], name: `t${i}` };
    if (i % 10 === 0) kept.push(record);
    sink += record.pair.length;
  }
  if (kept.length > 100_000) kept.splice(0, 50_000);
  largest = Math.max(largest, newSpace());
}
const turn = () => new Promise((resolve) => setImmediate(resolve));

const workerUrl = new URL("../../src/util/worker.js", import.meta.url).href;
const workers: Worker[] = [];
for (let w = 0; w < Number(count); w++) {
  // Each worker starts while the work goes on, as the export's hashing and cast threads do.
  const worker = startWorker(workerUrl, "sha256-worker");
  workers.push(worker);
  const online = new Promise((resolve) => worker.once("online", resolve));
  let started = false;
  void online.then(() => (started = true));
  while (!started) {
    allocate();
    await turn();
  }
  for (let r = 0; r < 10; r++) {
    allocate();
    await turn();
  }
}
for (let r = 0; r < 40; r++) {
  allocate();
  await turn();
}
await Promise.all(workers.map((w) => w.terminate()));
process.stdout.write(JSON.stringify({ largest, end: newSpace(), sink: sink > 0 }) + "\n");
