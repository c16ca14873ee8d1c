import { resolve } from "node:path";
import { isHubSpec } from "../store/hub-spec.js";

/** What a command may touch of the outside world; the entry point passes the real process, tests pass fakes. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean; readonly columns?: number };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Aborted on Ctrl-C, so that a command cleans up and exits. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
}

/** Named exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A source as given on the command line: a Hub repo (`hf://org/name@rev`) stays as it is, a path is made absolute. */
export function sourceArg(cwd: string, given: string): string {
  return isHubSpec(given) ? given : resolve(cwd, given);
}
