/**
 * Preloaded (`--import`) into a CLI child by young-generation.test.ts: at exit, writes to $YOUNG_GENERATION_PROBE the
 * size of the main thread's new space (in bytes; V8 never shrinks it while the process is busy, so its size at exit
 * is the largest it reached) and the number of worker threads the process started.
 */
import { writeFileSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";
import { isMainThread } from "node:worker_threads";

const out = process.env["YOUNG_GENERATION_PROBE"];
if (isMainThread && out !== undefined) {
  let workers = 0;
  process.on("worker", () => workers++);
  process.on("exit", () => {
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? -1;
    writeFileSync(out, JSON.stringify({ newSpace, workers }));
  });
}
