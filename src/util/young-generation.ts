/**
 * Holds the main thread's V8 young generation at its initial size (two 1 MB semi-spaces, 2 MB) for the whole process.
 * The CLI opts in (src/cli/main.ts); a library user's process and its V8 flags are theirs, so nothing else calls it.
 *
 * Why: V8 doubles the young generation each time enough objects survive its scavenges, up to two 16 MB semi-spaces,
 * and shrinks it only after a full collection at a low allocation rate (a loop that keeps allocating keeps 32 MB even
 * through full and last-resort collections, checked on Node 20). Loading the CLI's modules alone takes it to 16 MB,
 * and a 20-layer Hub-to-Hub conversion (bench/scale.ts, issue 12's memory bound) to 32 MB, with the old-generation
 * pages that larger scavenges promote into: 212 MB peak RSS on an idle machine. Held at 2 MB, the same run peaked at
 * 164 MB in the same time and CPU: the bytes flow through typed arrays and streams, so the scavenges of a small young
 * generation stay cheap.
 *
 * How: the node flag `--max-semi-space-size` is read only when a heap is set up, so set at run time it changes
 * nothing, and users do not pass node flags (a shebang with flags breaks busybox `env`, a re-spawned node costs a
 * second process, a shell launcher breaks npm's Windows shims). `--semi-space-growth-factor` is read at each growth
 * instead, so 1 keeps the semi-spaces at their initial size. But V8 clamps that process-wide factor back to at least
 * 2 whenever it sets up a heap, and each worker thread gets a heap of its own, set up on the worker's thread while it
 * starts (Heap::ConfigureHeap). Setting the factor again once the worker is `online` leaves a window (30 to 300 ms
 * here) in which the main thread's scavenges double its young generation, and in a test that allocates meanwhile it
 * reached 32 MB every time. So while held, {@link startHeldWorker} starts each worker through worker-boot.ts, which
 * signals as soon as the worker runs any code (its heap is set up by then), and blocks the main thread until that
 * signal before it sets the factor again: no main-thread allocation can fall in the window. The cost is the worker's
 * start-up time on the main thread, a few times per run. Workers are unaffected: resourceLimits caps their own young
 * generation (util/worker.ts).
 */
import { setFlagsFromString } from "node:v8";
import { Worker, type WorkerOptions } from "node:worker_threads";

/** V8's factor by which a young generation grows: 1 means it stays at its initial size. */
const HELD_GROWTH_FACTOR = 1;

/**
 * How long the main thread waits for a starting worker's signal. A worker starts in 30 to 300 ms here (the latter
 * with the machine's load average near 10); one that has not signalled by then is left to start on its own and the
 * factor is set again once it is online (or exits), so a failed start costs this wait, not a hang.
 */
const WORKER_SIGNAL_TIMEOUT_MS = 5_000;

let held = false;

function applyHold(): void {
  setFlagsFromString(`--semi-space-growth-factor=${HELD_GROWTH_FACTOR}`);
}

/**
 * Hold this process's main-thread young generation at its initial size from now on. Call it before the bulk of the
 * program loads (module loading alone grows an unheld young generation to 16 MB, and it does not shrink back).
 */
export function holdYoungGeneration(): void {
  held = true;
  applyHold();
}

/** Whether {@link holdYoungGeneration} was called in this process. */
export function youngGenerationHeld(): boolean {
  return held;
}

/** What worker-boot.ts receives as its workerData. */
export interface WorkerBootData {
  /** One Int32 cell the worker sets to 1 (and notifies) as it starts. */
  readonly started: SharedArrayBuffer;
  /** The worker module to import next. */
  readonly module: string;
}

/**
 * Start the worker module at `url` with `options` without letting the worker's heap set-up undo the hold: the main
 * thread waits (blocked) until the worker runs, then sets the growth factor again.
 */
export function startHeldWorker(url: URL, options: WorkerOptions): Worker {
  const started = new SharedArrayBuffer(4);
  const data: WorkerBootData = { started, module: url.href };
  const worker = new Worker(new URL("./worker-boot.js", import.meta.url), { ...options, workerData: data });
  const signalled = Atomics.wait(new Int32Array(started), 0, 0, WORKER_SIGNAL_TIMEOUT_MS) !== "timed-out";
  applyHold();
  if (!signalled) {
    worker.once("online", applyHold);
    worker.once("exit", applyHold);
  }
  return worker;
}
