/**
 * Runs the CLI in a child process of its own, so that a test can bound its heap (`--max-old-space-size`) and read
 * its peak memory: the child prints one JSON line `{code, stdout, stderr, maxRssBytes}` when the CLI returns.
 * Run as `node [flags] dist/test/support/cli-child.js <cli args…>`; see {@link cliChild}.
 */
import { spawn } from "node:child_process";
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
        const r = JSON.parse(line) as { code: number; stdout: string; stderr: string; maxRssBytes: number };
        resolve({ ...r, exit, rawStderr: err });
      } catch {
        resolve({ code: null, stdout: out, stderr: err, maxRssBytes: null, exit, rawStderr: err });
      }
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(process.argv.slice(2), {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env: process.env,
    cwd: process.cwd(),
  });
  process.stdout.write("\n" + JSON.stringify({ code, stdout, stderr, maxRssBytes: peakRssBytes() }) + "\n");
}
