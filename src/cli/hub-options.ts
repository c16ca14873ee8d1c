import { resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { resolveEndpoint, resolveToken } from "../hub/token.js";
import { httpTimeouts } from "../util/http-guard.js";
import type { PublishEvent, PublishReport } from "../hub/events.js";
import type { CliIo } from "./io.js";
import type { Progress } from "./progress.js";
import { terminalLines } from "./terminal-text.js";

/** Flags shared by `publish` and `export --push`. */
export const HUB_OPTIONS = {
  public: { type: "boolean" },
  revision: { type: "string" },
  "create-pr": { type: "boolean" },
  "commit-message": { type: "string" },
  "token-file": { type: "string" },
  token: { type: "string" },
  endpoint: { type: "string" },
} as const;

/** Hub flags mean nothing without a Hub operation: in `export` each needs `--push`. */
export const HUB_OPTION_RULES = (["public", "revision", "create-pr", "commit-message", "token-file", "token", "endpoint"] as const).map((option) => ({
  option,
  with: "push",
  because: "it only applies when publishing",
}));

export const HUB_USAGE = `  --public                 create a missing repo public (default: private)
  --revision BRANCH        commit to this branch (default main)
  --create-pr              open a pull request instead of committing to the branch
  --commit-message TEXT    the commit's title
  --token-file FILE        read the token from FILE (default: HF_TOKEN, else $HF_HOME/token)
  --token TOKEN            the token itself (shows in the process list: prefer HF_TOKEN or --token-file)
  --endpoint URL           the Hub (default: HF_ENDPOINT, else https://huggingface.co)`;

export interface HubFlags {
  public?: boolean;
  revision?: string;
  "create-pr"?: boolean;
  "commit-message"?: string;
  "token-file"?: string;
  token?: string;
  endpoint?: string;
  quiet?: boolean;
}

/**
 * Token, endpoint and repo settings from the flags and the environment, as the Python client finds them, and the
 * network limits from TRUECAST_HTTP_TIMEOUT_MS (one request, answer included) and TRUECAST_HTTP_RETRY_BUDGET_MS
 * (one request over all its retries).
 */
export async function hubSettings(v: HubFlags, io: CliIo) {
  if (v.token !== undefined && v["token-file"] !== undefined) {
    throw new TruecastError("USAGE", "--token and --token-file name two tokens; give one");
  }
  if (v.token !== undefined && v.quiet !== true) {
    io.stderr.write("truecast: warning: --token shows in the process list and shell history; HF_TOKEN or --token-file keep it private\n");
  }
  const { token } = await resolveToken({
    env: io.env,
    ...(v.token !== undefined ? { token: v.token } : {}),
    ...(v["token-file"] !== undefined ? { tokenFile: resolve(io.cwd, v["token-file"]) } : {}),
  });
  return {
    token,
    endpoint: resolveEndpoint(v.endpoint, io.env),
    ...(v.revision !== undefined ? { revision: v.revision } : {}),
    createPr: v["create-pr"] === true,
    public: v.public === true,
    timeouts: httpTimeouts(io.env),
    ...(io.fetch ? { fetch: io.fetch } : {}),
  };
}

/**
 * Render publish events on the progress line: `hashing` while a file's sha256 is computed and nothing is being sent
 * yet (the LFS protocol needs the hash first), then `uploading` with the bytes sent.
 */
export function showPublishProgress(progress: Progress): (e: PublishEvent) => void {
  const hashing = new Map<string, { bytes: number; total: number }>();
  return (e) => {
    if (e.type === "file") {
      if (e.state === "hashing") hashing.set(e.path, { bytes: e.bytes, total: e.total });
      else hashing.delete(e.path);
    } else if (e.type === "overall") {
      const [path, h] = [...hashing.entries()][0] ?? [];
      if (e.bytes === 0 && path !== undefined && h !== undefined) {
        if (progress.phase !== "hashing") progress.begin("hashing");
        progress.update(h.bytes, h.total, path);
        return;
      }
      if (progress.phase !== "uploading") progress.begin("uploading");
      progress.update(e.bytes, e.total, `${e.files}/${e.filesTotal} files${hashing.size > 0 ? " · hashing the next" : ""}`);
    } else if (e.type === "phase" && (e.phase === "committing" || e.phase === "done")) {
      progress.end();
    }
  };
}

/** The human lines of a finished publish: the summary, then where to look. */
export function formatPublished(report: PublishReport): string {
  const lines = [report.summary, `  repo:   ${report.endpoint}/${report.repoId}`, `  commit: ${report.commit.url}`];
  if (report.pullRequestUrl) lines.push(`  pull request: ${report.pullRequestUrl}`);
  if (report.deleted.length > 0) lines.push(`  deleted: ${report.deleted.join(", ")}`);
  if (report.keptPickles.length > 0) lines.push(`  left in place: ${report.keptPickles.join(", ")} (--replace-weights would delete them in the same commit)`);
  if (report.resumed) lines.push(`  resumed: ${report.resumed.shards} of ${report.resumed.of} shards already on the Hub, not read again`);
  return terminalLines(lines);
}
