/**
 * A Hub answer that is not what a read asked for, as one clear line with a stable code. The Hub says what went
 * wrong in `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo, DisabledRepo), as
 * huggingface_hub's `hf_raise_for_status` reads it; the status alone is ambiguous (a private repo asked for without
 * a token is a 401 RepoNotFound, exactly like a missing one). Messages never hold the token.
 */
import { TruecastError } from "../errors.js";
import { formatMs } from "../util/http-guard.js";
import { serverWaitMs } from "../hub/retry.js";
import type { HubSpec } from "./hub-spec.js";

export interface AnswerContext {
  spec: HubSpec;
  endpoint: string;
  /** Where the token came from (e.g. "HF_TOKEN"), or null when none was sent. */
  tokenFrom: string | null;
  /** What was being read, e.g. "the revision", "config.json". */
  what: string;
}

/** "retry after 12:05:30 UTC (in 4.5 min)", from the answer's Retry-After or RateLimit header; a generic line when neither. */
export function whenToRetry(headers: Headers, now = Date.now()): string {
  const ms = serverWaitMs(headers, now);
  if (ms === null) return "wait a few minutes and run the same command again";
  const at = new Date(now + ms).toISOString().slice(11, 19);
  return `run the same command again after ${at} UTC (in ${formatMs(ms)})`;
}

/** The error for a failed answer (status ≥ 400) to a read of `ctx.what`. */
export function answerError(status: number, headers: Headers, ctx: AnswerContext): TruecastError {
  const code = headers.get("x-error-code");
  const { spec, endpoint } = ctx;
  const repo = spec.repo.full;
  const token = ctx.tokenFrom === null ? null : `the token from ${ctx.tokenFrom}`;
  if (code === "GatedRepo") {
    return new TruecastError("HUB_FORBIDDEN", `${spec.label} is gated and ${token === null ? "no token was sent" : `${token} has not been granted access`} (HTTP ${status}); accept its conditions at ${endpoint}/${repo} and set HF_TOKEN to a token of that account`);
  }
  if (code === "DisabledRepo") return new TruecastError("HUB_FORBIDDEN", `${spec.label} has been disabled on ${endpoint} (HTTP ${status}); it cannot be read`);
  if (code === "RevisionNotFound") {
    return new TruecastError("HUB_NOT_FOUND", `${repo} has no revision "${spec.revision}" on ${endpoint}; name a branch, tag, commit or refs/pr/N that exists`);
  }
  if (code === "EntryNotFound") return new TruecastError("NOT_FOUND", `${spec.label}: the Hub has no file ${ctx.what} at that revision`);
  if (code === "RepoNotFound" || (status === 401 && token === null) || status === 404) {
    return new TruecastError("HUB_NOT_FOUND", token === null
      ? `no model repo ${repo} on ${endpoint}, or it is private (HTTP ${status}, no token sent); check the name, or set HF_TOKEN to a token that can read it`
      : `no model repo ${repo} on ${endpoint} that ${token} can read (HTTP ${status}); check the name, or use a token of an account with access`);
  }
  if (status === 401) return new TruecastError("HUB_AUTH", `the Hub at ${endpoint} rejected ${token} (HTTP 401) while reading ${ctx.what} of ${spec.label}; check HF_TOKEN or the token file`);
  if (status === 403) return new TruecastError("HUB_FORBIDDEN", `${token ?? "an anonymous request"} may not read ${ctx.what} of ${spec.label} (HTTP 403)`);
  if (status === 429) return new TruecastError("HUB_RATE_LIMITED", `the Hub at ${endpoint} is rate-limiting requests (HTTP 429) while reading ${ctx.what} of ${spec.label}; ${whenToRetry(headers)}${token === null ? ", or set HF_TOKEN (logged-in users get higher limits)" : ""}`);
  if (status >= 500) return new TruecastError("HUB_SERVER", `the Hub at ${endpoint} answered HTTP ${status} while reading ${ctx.what} of ${spec.label}, even after retries; run the same command again later`);
  return new TruecastError("HUB_SERVER", `the Hub at ${endpoint} refused reading ${ctx.what} of ${spec.label} (HTTP ${status})`);
}
