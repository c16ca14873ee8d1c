import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/run.js";

/** Where `export --push` keeps its resume journal in tests that do not name one: never the user's own cache. */
const TEST_CACHE = join(tmpdir(), `truecast-test-cache-${process.pid}`);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in-process with captured output. */
export async function cli(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; fetch?: typeof fetch } = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env: { TRUECAST_CACHE: TEST_CACHE, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  return { code, stdout, stderr };
}
