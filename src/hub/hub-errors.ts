/**
 * Turn whatever a Hub call threw into one TruecastError with one clear line, and make sure the token is in none.
 */
import { HubApiError } from "@huggingface/hub";
import { TruecastError, type ErrorCode } from "../errors.js";
import { HubNetworkError, networkReason } from "./hub-fetch.js";
import { redactToken } from "./redirect-rules.js";

export interface HubErrorContext {
  repoId: string;
  /** What was being done, e.g. "creating the repo", "uploading model.safetensors". */
  step: string;
  token: string;
}

// With the token rules (redirect-rules.ts), which the read path uses without the publish path's imports.
export { redactToken } from "./redirect-rules.js";

function serverText(e: HubApiError): string {
  const data = e.data as { error?: unknown; message?: unknown } | undefined;
  const text = typeof data?.error === "string" ? data.error : typeof data?.message === "string" ? data.message : "";
  return text.length > 200 ? text.slice(0, 200) + "…" : text;
}

function fromApiError(e: HubApiError, ctx: HubErrorContext): TruecastError {
  const said = serverText(e);
  const detail = said ? `: ${said}` : "";
  const at = `while ${ctx.step}`;
  let code: ErrorCode;
  let message: string;
  if (e.statusCode === 401) {
    code = "HUB_AUTH";
    message = `the Hub rejected the token (HTTP 401) ${at}; check --token-file, HF_TOKEN or $HF_HOME/token`;
  } else if (e.statusCode === 403) {
    code = "HUB_FORBIDDEN";
    message = `the token has no write access to ${ctx.repoId} (HTTP 403) ${at}${detail}; use a token with the "write" role for this namespace`;
  } else if (e.statusCode === 429) {
    code = "HUB_SERVER";
    message = `the Hub kept rate-limiting requests (HTTP 429) ${at}, even after retries; wait and run the same command again`;
  } else if (e.statusCode >= 500) {
    code = "HUB_SERVER";
    message = `the Hub answered HTTP ${e.statusCode} ${at}, even after retries${detail}; run the same command again later (files already uploaded are not sent again)`;
  } else if (e.statusCode === 412) {
    code = "HUB_SERVER";
    message = `the branch of ${ctx.repoId} moved ${at} (HTTP 412): someone else committed; run the same command again`;
  } else {
    code = "HUB_SERVER";
    message = `the Hub refused the request (HTTP ${e.statusCode}) ${at}${detail}`;
  }
  return new TruecastError(code, message, { cause: e });
}

/** Map any error from a Hub call to a TruecastError whose message holds no token. */
export function toHubError(e: unknown, ctx: HubErrorContext): TruecastError {
  let out: TruecastError;
  if (e instanceof HubNetworkError) {
    out = new TruecastError("HUB_NETWORK", `network error while ${ctx.step}: ${e.message}; check the connection and run the same command again (files already uploaded are not sent again)`, { cause: e.cause });
  } else if (e instanceof TruecastError) out = e;
  else if (e instanceof HubApiError) out = fromApiError(e, ctx);
  else if (e instanceof TypeError && e.message === "fetch failed") {
    out = new TruecastError("HUB_NETWORK", `network error while ${ctx.step}: ${networkReason(e)}; check the connection and run the same command again (files already uploaded are not sent again)`, { cause: e });
  } else {
    const msg = e instanceof Error ? e.message : String(e);
    out = new TruecastError("HUB_SERVER", `unexpected failure while ${ctx.step}: ${msg}`, { cause: e });
  }
  const clean = redactToken(out.message, ctx.token);
  return clean === out.message ? out : new TruecastError(out.code, clean, { cause: out.cause });
}
