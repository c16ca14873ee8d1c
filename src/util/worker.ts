import { Worker } from "node:worker_threads";
import { startHeldWorker, youngGenerationHeld } from "./young-generation.js";

/**
 * Young generation of a worker's heap, in MB. The workers do their work in typed arrays and hold few objects, but
 * each V8 heap otherwise sizes its young generation for the machine (tens of MB of garbage per thread).
 */
const WORKER_YOUNG_MB = 2;

/**
 * Start the compiled worker module `name.js` that sits beside the module `callerUrl` (pass `import.meta.url`). The one
 * place the project starts a thread, so that a held main-thread young generation stays held (young-generation.ts).
 */
export function startWorker(callerUrl: string, name: string): Worker {
  const url = new URL(`./${name}.js`, callerUrl);
  const options = { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } };
  return youngGenerationHeld() ? startHeldWorker(url, options) : new Worker(url, options);
}
