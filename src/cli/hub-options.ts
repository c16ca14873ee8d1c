import { resolve } from "node:path";
import { resolveEndpoint, resolveToken } from "../hub/token.js";
import { httpTimeouts } from "../util/http-guard.js";
import type { PublishEvent } from "../hub/events.js";
import type { CliIo } from "./io.js";
import type { Progress } from "./progress.js";

/** Flags shared by `publish` and `export --push`. */
export const HUB_OPTIONS = {
  public: { type: "boolean" },
  revision: { type: "string" },
  "create-pr": { type: "boolean" },
  "commit-message": { type: "string" },
  "token-file": { type: "string" },
  endpoint: { type: "string" },
} as const;

export const HUB_USAGE = `  --public                 create a missing repo public (default: private)
  --revision BRANCH        commit to this branch (default main)
  --create-pr              open a pull request instead of committing to the branch
  --commit-message TEXT    the commit's title
  --token-file FILE        read the token from FILE (default: HF_TOKEN, else $HF_HOME/token)
  --endpoint URL           the Hub (default: HF_ENDPOINT, else https://huggingface.co)`;

export interface HubFlags {
  public?: boolean;
  revision?: string;
  "create-pr"?: boolean;
  "commit-message"?: string;
  "token-file"?: string;
  endpoint?: string;
}

/**
 * Token, endpoint and repo settings from the flags and the environment, as the Python client finds them, and the
 * network limits from TRUECAST_HTTP_TIMEOUT_MS (one request, answer included) and TRUECAST_HTTP_RETRY_BUDGET_MS
 * (one request over all its retries).
 */
export async function hubSettings(v: HubFlags, io: CliIo) {
  const { token } = await resolveToken({ env: io.env, ...(v["token-file"] !== undefined ? { tokenFile: resolve(io.cwd, v["token-file"]) } : {}) });
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

/** Render publish events on the progress line. */
export function showPublishProgress(progress: Progress): (e: PublishEvent) => void {
  let started = false;
  return (e) => {
    if (e.type === "overall") {
      if (!started) {
        progress.begin("uploading");
        started = true;
      }
      progress.update(e.bytes, e.total, `${e.files}/${e.filesTotal} files`);
    } else if (e.type === "phase" && (e.phase === "committing" || e.phase === "done")) {
      progress.end();
    }
  };
}
