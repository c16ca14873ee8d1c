import { Worker } from "node:worker_threads";

/** Start the compiled worker module `name.js` that sits beside the module `callerUrl` (pass `import.meta.url`). */
export function startWorker(callerUrl: string, name: string): Worker {
  return new Worker(new URL(`./${name}.js`, callerUrl));
}
