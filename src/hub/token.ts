/**
 * Where the token and the endpoint come from, in the order the Python client uses:
 * token: `--token`, else `--token-file`, else `HF_TOKEN`, else `$HF_HOME/token` (default `~/.cache/huggingface/token`);
 * endpoint: the flag, else `HF_ENDPOINT`, else https://huggingface.co.
 * The token itself never appears in a message.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { TruecastError } from "../errors.js";

export const DEFAULT_ENDPOINT = "https://huggingface.co";

export type TokenSource = "token" | "token-file" | "HF_TOKEN" | "HF_HOME";

export interface ResolvedToken {
  token: string;
  source: TokenSource;
  /** The file it was read from, for token-file and HF_HOME. */
  path?: string;
}

export interface ResolveTokenParams {
  /** The token itself (`--token`, as `hf` accepts it; it shows in the process list, so a file or HF_TOKEN is safer). */
  token?: string;
  tokenFile?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Defaults to os.homedir(). */
  home?: string;
}

async function readTokenFile(path: string, required: boolean): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new TruecastError("HUB_AUTH", `cannot read the token file ${path}: ${(e as NodeJS.ErrnoException).code ?? "read error"}`);
  }
  const token = text.trim();
  if (!token) throw new TruecastError("HUB_AUTH", `the token file ${path} is empty`);
  return token;
}

function checkShape(token: string, where: string): string {
  if (/\s/.test(token)) throw new TruecastError("HUB_AUTH", `the token from ${where} contains whitespace; it must be one line`);
  return token;
}

/** Find the token; throws HUB_AUTH naming where it looked when there is none. */
export async function resolveToken(params: ResolveTokenParams = {}): Promise<ResolvedToken> {
  const found = await findToken(params);
  if (found === null) {
    const hfHome = (params.env ?? process.env).HF_HOME || join(params.home ?? homedir(), ".cache", "huggingface");
    throw new TruecastError("HUB_AUTH", `no Hugging Face token: pass --token-file, set HF_TOKEN, or log in so that ${join(hfHome, "token")} exists`);
  }
  return found;
}

/**
 * The token from the same places as {@link resolveToken}, or null when there is none (reads of public repos need
 * none). A token file that exists but cannot be read or is empty is still an error.
 */
export async function findToken(params: ResolveTokenParams = {}): Promise<ResolvedToken | null> {
  const env = params.env ?? process.env;
  if (params.token !== undefined) {
    const token = params.token.trim();
    if (!token) throw new TruecastError("HUB_AUTH", "--token is empty");
    return { token: checkShape(token, "--token"), source: "token" };
  }
  if (params.tokenFile) {
    const token = await readTokenFile(params.tokenFile, true);
    return { token: checkShape(token ?? "", params.tokenFile), source: "token-file", path: params.tokenFile };
  }
  const fromEnv = env.HF_TOKEN?.trim();
  if (fromEnv) return { token: checkShape(fromEnv, "HF_TOKEN"), source: "HF_TOKEN" };
  const hfHome = env.HF_HOME || join(params.home ?? homedir(), ".cache", "huggingface");
  const path = join(hfHome, "token");
  const token = await readTokenFile(path, false);
  if (token === null) return null;
  return { token: checkShape(token, path), source: "HF_HOME", path };
}

/** The Hub endpoint without a trailing slash; throws USAGE for a malformed URL. */
export function resolveEndpoint(endpoint?: string, env: NodeJS.ProcessEnv = process.env): string {
  const raw = endpoint || env.HF_ENDPOINT || DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TruecastError("USAGE", `invalid Hub endpoint "${raw}": expected a URL such as ${DEFAULT_ENDPOINT}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TruecastError("USAGE", `invalid Hub endpoint "${raw}": only http and https are supported`);
  }
  if (url.username || url.password) throw new TruecastError("USAGE", "the Hub endpoint may not contain credentials");
  return url.href.replace(/\/+$/, "");
}
