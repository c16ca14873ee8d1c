/**
 * The files an export carries besides the weights (config, tokenizer, LICENSE, heads, the user's model card),
 * checked before the first byte is written: each must really be inside the folder it was found in (or the
 * Hugging Face cache repository of a snapshot), and readable; their sizes count toward the free-space check.
 */
import { open } from "node:fs/promises";
import { TruecastError } from "../errors.js";
import { checkCarriedPath } from "../util/real-path.js";

function errnoCode(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
}

/** Open `path` for reading and return its size, or say clearly why it cannot be read. */
async function readableSize(path: string, what: string): Promise<number> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const code = errnoCode(e);
    if (code === "EACCES" || code === "EPERM") {
      throw new TruecastError("UNREADABLE", `${what} ${path}: permission denied; the export carries it, so it must be readable (check its permissions); nothing was written`, { cause: e });
    }
    if (code === "ENOENT") throw new TruecastError("NOT_FOUND", `${what} ${path}: no such file; nothing was written`, { cause: e });
    throw new TruecastError("UNREADABLE", `${what} ${path}: cannot be read (${code || String(e)}); nothing was written`, { cause: e });
  }
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/**
 * Check every carried file (name in the output → path) and the user's model card before an export writes anything.
 * Refuses a file that is a link to somewhere outside its folder (`LINK_OUTSIDE`), and one that cannot be read.
 * Returns the bytes they will take in the output.
 */
export async function checkCarriedFiles(files: ReadonlyMap<string, string>, cardFile?: string): Promise<{ bytes: number }> {
  let bytes = 0;
  for (const [name, path] of files) {
    await checkCarriedPath(path);
    bytes += await readableSize(path, name === "config.json" ? "config file" : "carried file");
  }
  if (cardFile !== undefined) bytes += await readableSize(cardFile, "model card");
  return { bytes };
}
