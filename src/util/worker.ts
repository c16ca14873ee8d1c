import { Worker } from "node:worker_threads";

/**
 * Young generation of a worker's heap, in MB. The workers do their work in typed arrays and hold few objects, but
 * each V8 heap otherwise sizes its young generation for the machine (tens of MB of garbage per thread).
 */
const WORKER_YOUNG_MB = 2;

/** Start the compiled worker module `name.js` that sits beside the module `callerUrl` (pass `import.meta.url`). */
export function startWorker(callerUrl: string, name: string): Worker {
  return new Worker(new URL(`./${name}.js`, callerUrl), { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } });
}
