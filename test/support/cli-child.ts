/**
 * Runs the CLI in a child process of its own, so that a test can bound its heap (`--max-old-space-size`) and read
 * its peak memory and what it read: the child prints one JSON line `{code, stdout, stderr, maxRssBytes, readBytes}` when
 * the CLI returns.
 * Run as `node [flags] dist/test/support/cli-child.js <cli args…>`; see {@link cliChild}.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/run.js";
import { peakRssBytes } from "./peak-rss.js";

export interface ChildResult {
  /** The CLI's exit code; null when the child died without reporting (a crash: heap exhausted, a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the child's own program (see peak-rss.ts). */
  maxRssBytes: number | null;
  /**
   * Bytes the child's threads read (files, pipes and sockets alike: `rchar` of /proc/self/io, threads that ended
   * included) while the CLI ran, after its modules were loaded; null where /proc does not say or the child crashed.
   */
  readBytes: number | null;
  /** The child's own exit status and the raw stderr, for failures. */
  exit: number | null;
  rawStderr: string;
}

/** Run `truecast <args>` in a child node with `nodeFlags`, in `cwd`, with exactly `env` (plus PATH). */
export function cliChild(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; nodeFlags?: string[]; killAfterMs?: number }): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), self, ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? "", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (exit) => {
      clearTimeout(killer);
      const line = out.trim().split("\n").pop() ?? "";
      try {
        const r = JSON.parse(line) as { code: number; stdout: string; stderr: string; maxRssBytes: number; readBytes: number | null };
        resolve({ ...r, exit, rawStderr: err });
      } catch {
        resolve({ code: null, stdout: out, stderr: err, maxRssBytes: null, readBytes: null, exit, rawStderr: err });
      }
    });
  });
}

/** `rchar` of /proc/self/io: bytes this process has read so far, or null off Linux. */
function readSoFar(): number | null {
  try {
    const m = /^rchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
    return m?.[1] !== undefined ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const read0 = readSoFar();
  let stdout = "";
  let stderr = "";
  const code = await runCli(process.argv.slice(2), {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env: process.env,
    cwd: process.cwd(),
  });
  const read1 = readSoFar();
  const readBytes = read0 !== null && read1 !== null ? read1 - read0 : null;
  process.stdout.write("\n" + JSON.stringify({ code, stdout, stderr, maxRssBytes: peakRssBytes(), readBytes }) + "\n");
}
