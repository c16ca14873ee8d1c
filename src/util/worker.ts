import { Worker } from "node:worker_threads";

/**
 * Start the worker module `name` that sits beside the module `callerUrl` (pass `import.meta.url`).
 * Compiled, that is `name.js`. Under tsx (the caller is a .ts file), Node 20 does not apply tsx's hooks to a
 * worker's entry file, so a small bootstrap registers tsx inside the worker and then imports `name.ts`.
 */
export function startWorker(callerUrl: string, name: string): Worker {
  if (!callerUrl.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, callerUrl));
  const source = new URL(`./${name}.ts`, callerUrl).href;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(source)}));`;
  return new Worker(bootstrap, { eval: true });
}
