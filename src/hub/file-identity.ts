/**
 * Which file a path named when a folder was listed: device, inode, size and modification time. Every later read of
 * a file to publish (its sha256, the LFS upload, the commit's base64) opens the path and compares these with
 * `fstat` on the opened handle, so the bytes read are the listed file's: a file replaced after the listing (by a
 * rename, a new file, or a link to a file outside the folder) is refused, with no window between check and read.
 */
import type { Stats } from "node:fs";
import { open } from "node:fs/promises";
import { TruecastError } from "../errors.js";

export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

type Handle = Awaited<ReturnType<typeof open>>;

/** The identity of a file from its stat (of the file itself: a link's target, never the link). */
export function identityOf(st: Pick<Stats, "dev" | "ino" | "size" | "mtimeMs">): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

/** Is `st` the file `id` names, unchanged? */
export function sameIdentity(st: Pick<Stats, "dev" | "ino" | "size" | "mtimeMs">, id: FileIdentity): boolean {
  return st.dev === id.dev && st.ino === id.ino && st.size === id.size && st.mtimeMs === id.mtimeMs;
}

/** What changed, for the message: another file at the path, or the same file written to. */
export function describeChange(st: Pick<Stats, "dev" | "ino" | "size" | "mtimeMs">, id: FileIdentity): string {
  if (st.dev !== id.dev || st.ino !== id.ino) return "it is another file now (replaced, or a link pointed elsewhere)";
  if (st.size !== id.size) return `its size went from ${id.size} to ${st.size} bytes`;
  return "it was modified";
}

/** The one error for a file that is not the one listed (or hashed): nothing of it is committed. */
export function fileChanged(path: string, detail = "it was modified"): TruecastError {
  return new TruecastError(
    "VERIFY_FAILED",
    `${path} changed during the publish (${detail}); nothing was committed; let whatever writes the folder finish, then run again`,
  );
}

/** The error for a file whose hash pass found it is not the file listed, or found it written to while hashing. */
export function changedWhileHashed(path: string): TruecastError {
  return fileChanged(path, "it is not the file listed, or was written to while it was hashed");
}

/**
 * Open `path` for reading and check, on the opened handle, that it is the file `id` names. Throws UNREADABLE when it
 * cannot be opened, VERIFY_FAILED when it is another file or changed; the caller closes the handle.
 */
export async function openIdentified(path: string, id: FileIdentity): Promise<Handle> {
  let fh: Handle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new TruecastError("UNREADABLE", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const st = await fh.stat();
    if (!sameIdentity(st, id)) throw fileChanged(path, describeChange(st, id));
    return fh;
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}
