/**
 * Repository ids as the Hub accepts them: `namespace/name`, each part 1–96 characters of letters, digits,
 * `-`, `_` and `.`, not starting or ending with `-` or `.`, without `--` or `..`, and a name not ending in `.git`.
 */
import { TruecastError } from "../errors.js";

/** The Hub's limit on the length of a namespace or a repository name. */
const MAX_PART_LENGTH = 96;
const PART_RE = /^[A-Za-z0-9_.-]+$/;

export interface RepoId {
  namespace: string;
  name: string;
  /** `namespace/name`. */
  full: string;
}

function partProblem(part: string, what: string): string | null {
  if (part.length === 0) return `the ${what} is empty`;
  if (part.length > MAX_PART_LENGTH) return `the ${what} is longer than ${MAX_PART_LENGTH} characters`;
  if (!PART_RE.test(part)) return `the ${what} may only hold letters, digits, '-', '_' and '.'`;
  if (/^[-.]|[-.]$/.test(part)) return `the ${what} may not start or end with '-' or '.'`;
  if (part.includes("--") || part.includes("..")) return `the ${what} may not contain '--' or '..'`;
  return null;
}

/** Parse and check a repo id; throws HUB_REPO_ID with the rule it breaks. */
export function parseRepoId(repoId: string): RepoId {
  const parts = repoId.split("/");
  const fail = (why: string): never => {
    throw new TruecastError("HUB_REPO_ID", `invalid repo id "${repoId}": ${why}; expected namespace/name, e.g. acme/my-model`);
  };
  if (parts.length !== 2) fail("it must have exactly one '/'");
  const [namespace = "", name = ""] = parts;
  const problem = partProblem(namespace, "namespace") ?? partProblem(name, "name");
  if (problem) fail(problem);
  if (name.endsWith(".git")) fail("the name may not end with '.git'");
  return { namespace, name, full: `${namespace}/${name}` };
}
