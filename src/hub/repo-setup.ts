/**
 * The token is checked (whoami) and the repository looked up before any work; a missing repository is created
 * (private unless asked otherwise) only right before the first upload, and deleted again when the run fails before
 * its commit; a branch named by --revision is created from main when missing, at the same moment.
 */
import { createBranch, createRepo, deleteRepo, HubApiError } from "@huggingface/hub";
import { TruecastError } from "../errors.js";
import { CLIENT_TOKEN_PLACEHOLDER } from "./hub-fetch.js";
import { answerUrl, jsonType, malformed, readJsonObject, stringField } from "./hub-json.js";
import type { RepoId } from "./repo-id.js";

export interface HubTarget {
  endpoint: string;
  repo: RepoId;
  /** The wrapped fetch (auth, retries). */
  fetch: typeof fetch;
}

/** The client's error for a failed response, so that every failure goes through the same mapping. */
export async function apiError(res: Response): Promise<HubApiError> {
  const url = new URL(res.url || "http://unknown/");
  const err = new HubApiError(url.origin + url.pathname, res.status, res.headers.get("X-Request-Id") ?? undefined);
  let data: { error?: unknown; message?: unknown } = {};
  try {
    data = (await res.json()) as typeof data;
  } catch {
    data = {};
  }
  const said = typeof data.error === "string" ? data.error : typeof data.message === "string" ? data.message : "";
  err.message = `HTTP ${res.status}${said ? `: ${said}` : ""}`;
  err.data = said ? { error: said } : {};
  return err;
}

/**
 * The account the token belongs to; 401 becomes HUB_AUTH upstream. A token whose role is "read" cannot publish
 * anything, so it is refused here (HUB_FORBIDDEN) before any repo is touched; fine-grained tokens are judged by
 * the Hub's answers (403) later.
 */
export async function checkToken(t: HubTarget): Promise<string> {
  const url = `${t.endpoint}/api/whoami-v2`;
  const res = await t.fetch(url, { headers: { Authorization: `Bearer ${CLIENT_TOKEN_PLACEHOLDER}` } });
  if (!res.ok) throw await apiError(res);
  const me = await readJsonObject(res, url);
  const name = stringField(me, "name", answerUrl(res, url));
  const auth = me.auth;
  if (auth !== undefined && (auth === null || typeof auth !== "object" || Array.isArray(auth))) throw malformed(answerUrl(res, url), `"auth" is ${jsonType(auth)}, expected an object`);
  const accessToken = (auth as { accessToken?: unknown } | undefined)?.accessToken;
  if (accessToken !== null && typeof accessToken === "object" && (accessToken as { role?: unknown }).role === "read") {
    throw new TruecastError("HUB_FORBIDDEN", `the token is read-only, so it cannot publish to ${t.repo.full}; use a token with the "write" role`);
  }
  return name;
}

/** The commit a revision points to, or null when the revision (or the repo) does not exist. */
export async function revisionCommit(t: HubTarget, revision: string): Promise<{ sha: string; private: boolean } | null> {
  const url = `${t.endpoint}/api/models/${t.repo.full}/revision/${encodeURIComponent(revision)}`;
  const res = await t.fetch(url);
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw await apiError(res);
  const json = await readJsonObject(res, url);
  const sha = stringField(json, "sha", answerUrl(res, url));
  if (!/^[0-9a-f]{40}$/.test(sha)) throw malformed(answerUrl(res, url), `"sha" is not a commit id`);
  return { sha, private: json.private === true };
}

/** The repo's visibility, or null when it does not exist for us (nothing is created here). */
export async function repoState(t: HubTarget): Promise<{ private: boolean } | null> {
  const url = `${t.endpoint}/api/models/${t.repo.full}`;
  const res = await t.fetch(url);
  if (res.ok) {
    const json = await readJsonObject(res, url);
    return { private: json.private === true };
  }
  // As the client's repoExists: the Hub answers 401 (X-Error-Code: RepoNotFound) or 404 for a repo it will not show;
  // the token itself was checked by whoami first, so both mean "not there for us".
  if (res.status !== 404 && res.status !== 401) throw await apiError(res);
  await res.body?.cancel();
  return null;
}

/** Create the repo (known to be missing); returns whether it was created here and its visibility. */
export async function createMissingRepo(t: HubTarget, isPublic: boolean): Promise<{ created: boolean; private: boolean }> {
  try {
    await createRepo({
      repo: { type: "model", name: t.repo.full },
      visibility: isPublic ? "public" : "private",
      accessToken: CLIENT_TOKEN_PLACEHOLDER,
      hubUrl: t.endpoint,
      fetch: t.fetch,
    });
    return { created: true, private: !isPublic };
  } catch (e) {
    // Someone created it between the two calls: use it as it is.
    if (e instanceof HubApiError && e.statusCode === 409) return { created: false, private: !isPublic };
    throw e;
  }
}

/** Make sure the repo exists; returns whether it was created here and its visibility. */
export async function ensureRepo(t: HubTarget, isPublic: boolean): Promise<{ created: boolean; private: boolean }> {
  const state = await repoState(t);
  return state ? { created: false, private: state.private } : createMissingRepo(t, isPublic);
}

/** Delete a repo this run created and never committed to, so that a failed run leaves no empty repo behind. */
export async function deleteCreatedRepo(t: HubTarget): Promise<void> {
  await deleteRepo({ repo: { type: "model", name: t.repo.full }, accessToken: CLIENT_TOKEN_PLACEHOLDER, hubUrl: t.endpoint, fetch: t.fetch });
}

/** Create `branch` from main when it does not exist yet. */
export async function ensureBranch(t: HubTarget, branch: string): Promise<void> {
  if (branch === "main" || (await revisionCommit(t, branch)) !== null) return;
  await createBranch({ repo: { type: "model", name: t.repo.full }, branch, revision: "main", accessToken: CLIENT_TOKEN_PLACEHOLDER, hubUrl: t.endpoint, fetch: t.fetch });
}
