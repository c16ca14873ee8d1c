/**
 * `hf://<namespace>/<name>[@<revision>]`: a Hub model repo named as a source. The revision is everything after the
 * first `@` (repo ids cannot hold one), so a branch, tag, commit or `refs/pr/N` is written as it is, `/` and `@`
 * included: `hf://acme/m@refs/pr/3`, `hf://acme/m@feature/x`. Percent-escapes are decoded once, so the
 * `refs%2Fpr%2F3` form huggingface_hub's `hf://` paths use means the same; a literal `%` is written `%25`.
 * Without `@`, the revision is `main`.
 */
import { TruecastError } from "../errors.js";
import { parseRepoId, type RepoId } from "../hub/repo-id.js";

export const HUB_SCHEME = "hf://";

export interface HubSpec {
  repo: RepoId;
  /** Branch, tag, commit id or `refs/pr/N`, decoded. */
  revision: string;
  /** `hf://namespace/name@revision`, as a person reads it. */
  label: string;
}

/** Whether `spec` names a Hub repo (starts with `hf://`) rather than a local path. */
export function isHubSpec(spec: string): boolean {
  return spec.startsWith(HUB_SCHEME);
}

/** Git's rules for a ref name that matter here: no control characters, spaces, `..`, `@{`, `\`, or a trailing `/` or `.lock`. */
function revisionProblem(rev: string): string | null {
  if (rev === "") return "the revision after '@' is empty";
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(rev)) return "the revision holds a space, a control character or one of ~^:?*[\\";
  if (rev.includes("..") || rev.includes("@{") || rev.includes("//")) return "the revision holds '..', '@{' or '//'";
  if (/^[/.]|[/.]$|\.lock$/.test(rev)) return "the revision starts or ends with '/' or '.', or ends with '.lock'";
  return null;
}

/** Parses `hf://namespace/name[@revision]`; USAGE (or HUB_REPO_ID) naming what is wrong otherwise. */
export function parseHubSpec(spec: string): HubSpec {
  if (!isHubSpec(spec)) throw new TruecastError("INTERNAL", `parseHubSpec: ${JSON.stringify(spec)} does not start with ${HUB_SCHEME}`);
  const rest = spec.slice(HUB_SCHEME.length);
  const at = rest.indexOf("@");
  const id = at < 0 ? rest : rest.slice(0, at);
  if (id.startsWith("datasets/") || id.startsWith("spaces/")) {
    throw new TruecastError("USAGE", `${spec}: only model repos can be read (hf://namespace/name), not datasets or spaces`);
  }
  const repo = parseRepoId(id.replace(/\/+$/, ""));
  let revision = "main";
  if (at >= 0) {
    const raw = rest.slice(at + 1);
    try {
      revision = decodeURIComponent(raw);
    } catch {
      throw new TruecastError("USAGE", `${spec}: the revision has a malformed %-escape; write a literal '%' as %25`);
    }
    const problem = revisionProblem(revision);
    if (problem) throw new TruecastError("USAGE", `${spec}: ${problem}; expected hf://namespace/name@<branch, tag, commit or refs/pr/N>`);
  }
  return { repo, revision, label: `${HUB_SCHEME}${repo.full}@${revision}` };
}

/** `spec` at `commit` (`hf://namespace/name@<commit>`): how a second reader of a source sees what the first pinned. */
export function atCommit(spec: string, commit: string): string {
  return `${HUB_SCHEME}${parseHubSpec(spec).repo.full}@${commit}`;
}
