/**
 * Helpers of bench/publish.ts: the Hub double in a child process (bench/publish-server.ts), and a timer that
 * reports a command's CPU time as well as its wall time and peak RSS.
 */
import { fork, spawn } from "node:child_process";
import { existsSync } from "node:fs";

export interface Run {
  seconds: number;
  /** Peak resident set size of the client process, bytes. */
  peakRss: number;
  /** CPU seconds (user + system) of the client process, and of the double while serving this run. */
  cpu: number;
  serverCpu: number;
}

const TIME = "/usr/bin/time";

/**
 * Like lib.ts `timed()`, plus the command's CPU time: wall seconds, peak RSS and user + system seconds.
 * `opts.stdout`: a file descriptor for the command's stdout (default: dropped); `opts.env`: its environment.
 */
export function timeCommand(label: string, cmd: string, args: readonly string[], opts: { stdout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Omit<Run, "serverCpu">> {
  if (!existsSync(TIME)) throw new Error(`${TIME} is missing: apt-get install -y time`);
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ["-f", "TIMED %e %M %U %S", cmd, ...args], { stdio: ["ignore", opts.stdout ?? "ignore", "pipe"] as const, env: opts.env ?? process.env });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      const m = /TIMED ([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${label} failed (exit ${code}): ${err.slice(-2000)}`));
      resolve({ seconds: Number(m[1]), peakRss: Number(m[2]) * 1024, cpu: Number(m[3]) + Number(m[4]) });
    });
  });
}

export interface DoubleProcess {
  url: string;
  storageUrl: string;
  /** Forget every stored object and repo (so the next run uploads everything); the double's CPU seconds since the last reset. */
  reset: () => Promise<number>;
  /** Stop it; its peak RSS in bytes. */
  stop: () => Promise<number>;
  /** The server's "ready" message, whole (a server may say more than its URLs). */
  ready: Record<string, unknown>;
  /** Send `{ type }` and wait for the message of type `answer`. */
  ask: (type: string, answer: string) => Promise<Record<string, unknown>>;
}

/** Start a double's server script (bench/publish-server, bench/scale-server) with its options as one JSON argument. */
export async function startDoubleProcess(serverScript: string, execArgv: string[], options: string): Promise<DoubleProcess> {
  const child = fork(serverScript, [options], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waitFor = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(m);
      };
      const onExit = (code: number | null) => reject(new Error(`the Hub double exited (${code}) before answering ${type}`));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const ask = (type: string, answer: string) => {
    const p = waitFor(answer);
    child.send({ type });
    return p;
  };
  const ready = await waitFor("ready");
  return {
    url: String(ready.url),
    storageUrl: String(ready.storageUrl),
    reset: async () => Number((await ask("reset", "reset-done")).cpuSeconds),
    stop: async () => Number((await ask("stop", "stopped")).maxRssBytes),
    ready,
    ask,
  };
}
