/**
 * truecast's own cache folder (the resume journal of `export --push`, the digest cache of local source files), the
 * one rule both apply before trusting anything found there, and the one place where neither writes.
 */
import type { Stats } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { isInside, realPathOf } from "./real-path.js";

/** The cache folder of truecast, from the environment: `$TRUECAST_CACHE`, else `$XDG_CACHE_HOME/truecast`, else `~/.cache/truecast`. */
export function truecastCacheDir(env: NodeJS.ProcessEnv): string {
  const given = env.TRUECAST_CACHE;
  if (given) return given;
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg ? xdg : join(homedir(), ".cache"), "truecast");
}

/**
 * Why a cache entry or cache folder cannot be trusted, or null: what is found there decides what a run skips or
 * states, so it must be a regular file (or a folder) of this user that no one else can write. `st` comes from lstat
 * or from fstat on a handle opened without following links, so a link is never what is judged.
 */
export function untrustedCacheFile(st: Stats): string | null {
  if (!st.isFile() && !st.isDirectory()) return "it is not a regular file";
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return "it belongs to another user";
  if ((st.mode & 0o022) !== 0) return "others can write to it";
  return null;
}

/**
 * Is the cache folder of `env` the folder `out` or inside it (real paths: through links too)? An export's output
 * is written elsewhere and renamed into place, so an entry written there first would make the rename fail (or
 * `--force` delete it): such a run does without its cache, which is only ever a saving. True when it cannot tell.
 */
export async function cacheInside(env: NodeJS.ProcessEnv, out: string): Promise<boolean> {
  try {
    const [cache, folder] = await Promise.all([realPathOf(truecastCacheDir(env)), realPathOf(out)]);
    return isInside(cache, folder);
  } catch {
    return true;
  }
}
