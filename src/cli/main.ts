#!/usr/bin/env node
import { holdYoungGeneration } from "../util/young-generation.js";

// Before the rest of the CLI loads: loading it alone would grow the young generation to 16 MB (young-generation.ts).
holdYoungGeneration();
const { runCli } = await import("./run.js");

/** Signals that stop a run cleanly (temporary output removed), with the exit code a shell reports for each (128 + number). */
const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

const controller = new AbortController();
let stoppedBy: keyof typeof STOP_SIGNALS | null = null;
for (const name of Object.keys(STOP_SIGNALS) as (keyof typeof STOP_SIGNALS)[]) {
  process.on(name, () => {
    // First signal: stop cleanly (temporary output is removed). Second: leave at once.
    if (stoppedBy !== null) process.exit(STOP_SIGNALS[name]);
    stoppedBy = name;
    controller.abort(name);
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
});
process.exitCode = stoppedBy !== null && code !== 0 ? STOP_SIGNALS[stoppedBy] : code;
