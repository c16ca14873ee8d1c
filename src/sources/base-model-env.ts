import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Where the Hugging Face tooling keeps things, read from the environment the way Python's huggingface_hub
 * (`constants.py`, `utils/_auth.py`) reads it, so that truecast and the Python client share one cache and one login.
 */
export interface HfEnvironment {
  /** `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. */
  readonly cacheDir: string;
  /** `HF_ENDPOINT` without a trailing slash, else `https://huggingface.co`. */
  readonly endpoint: string;
  /** `HF_HUB_OFFLINE` (or, when that is unset or empty, `TRANSFORMERS_OFFLINE`) is one of 1/ON/YES/TRUE, any case. */
  readonly offline: boolean;
  /** Where a token would be read from when `HF_TOKEN` is unset: `HF_TOKEN_PATH`, else `$HF_HOME/token`. */
  readonly tokenPath: string;
}

export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** The values huggingface_hub's `_is_true` accepts (compared upper-cased); anything else, "0" and "false" included, is false. */
const TRUE_VALUES = new Set(["1", "ON", "YES", "TRUE"]);

/** huggingface_hub's `_is_true`: a boolean environment variable as the Python client parses it. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.toUpperCase());
}

/** A variable that is set and non-empty (Python's `os.getenv(x) or ...` treats "" as unset). */
function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function expandUser(p: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return join(homedir(), p.slice(2));
  return p;
}

export function hfEnvironment(env: NodeJS.ProcessEnv = process.env): HfEnvironment {
  const home = expandUser(
    nonEmpty(env, "HF_HOME") ?? join(nonEmpty(env, "XDG_CACHE_HOME") ?? join(homedir(), ".cache"), "huggingface"),
  );
  const cacheDir = expandUser(nonEmpty(env, "HF_HUB_CACHE") ?? nonEmpty(env, "HUGGINGFACE_HUB_CACHE") ?? join(home, "hub"));
  const endpoint = (nonEmpty(env, "HF_ENDPOINT") ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  const offline = envFlag(nonEmpty(env, "HF_HUB_OFFLINE") ?? env["TRANSFORMERS_OFFLINE"]);
  const tokenPath = expandUser(nonEmpty(env, "HF_TOKEN_PATH") ?? join(home, "token"));
  return { cacheDir, endpoint, offline, tokenPath };
}

/** Line breaks removed and whitespace trimmed, as huggingface_hub's `_clean_token` does; empty means none. */
function cleanToken(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const t = raw.replace(/[\r\n]/g, "").trim();
  return t === "" ? undefined : t;
}

/** `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN`, else the token file; undefined when there is none. */
export async function hfToken(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const fromEnv = cleanToken(nonEmpty(env, "HF_TOKEN") ?? nonEmpty(env, "HUGGING_FACE_HUB_TOKEN"));
  if (fromEnv !== undefined) return fromEnv;
  try {
    return cleanToken(await readFile(hfEnvironment(env).tokenPath, "utf8"));
  } catch {
    return undefined;
  }
}
