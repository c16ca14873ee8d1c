/**
 * Staging folders left behind by runs that could not clean up (SIGKILL, a power cut): `.<name>.truecast-<pid>-<hex>`
 * and the `.old` sibling a `--force` replace moves the previous output to. The next run writing into the same
 * parent folder removes those whose process is gone, and only those. The hex starts with a tag of the machine's
 * host name: a process id means something only on the machine (and in the container) that made it, so a folder
 * made elsewhere (a shared network folder, a volume shared between containers) is never judged by it.
 */
import type { Stats } from "node:fs";
import { lstat, readdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";

/** `.<name>.truecast-<pid>-<8 hex host tag><8 hex>` with an optional `.old` (8 hex alone: made before host tags). */
const STAGING_NAME = /^\.(.+)\.truecast-(\d{1,10})-([0-9a-f]{8})([0-9a-f]{8})?(\.old)?$/;

/** 8 hex digits naming this machine (its host name), the first half of a staging folder's hex. */
export function hostTag(host: string = hostname()): string {
  return createHash("sha256").update(host).digest("hex").slice(0, 8);
}

/** The staging folder name for `out`, in the same parent folder, marked with this machine's tag and this process's id. */
export function stagingName(out: string): string {
  return `.${basename(out)}.truecast-${process.pid}-${hostTag()}${randomBytes(4).toString("hex")}`;
}

/** Is process `pid` alive? Signal 0 checks without sending: ESRCH means gone; EPERM means alive (another user's). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Whether `info` (from lstat) is a real folder of this user: only such a folder may be a staging folder this user's
 * runs left. A symbolic link, or a folder of another user that merely has the name (truecast run as root over a
 * shared folder), is never one.
 */
export function ownFolder(info: Stats): boolean {
  const uid = process.getuid?.();
  return info.isDirectory() && (uid === undefined || info.uid === uid);
}

/**
 * Remove the staging folders in `parent` whose process is gone (a `.old` folder whose output is missing is moved
 * back into place instead: it is the previous output of a run stopped mid-replace). Only real folders of this user are removed (a symbolic link of
 * that name, or another user's folder, is left alone, and removal never follows links inside); a folder whose pid is alive is kept, even if it
 * is a different process that reused the id, and so is one whose host tag is another machine's. Returns what was removed, for the report. Best effort: a folder that
 * cannot be removed is left as it is.
 */
export async function removeStaleStaging(parent: string, alive: (pid: number) => boolean = processAlive): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const tag = hostTag();
  for (const name of names.sort()) {
    const m = STAGING_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    // Made on another machine or in another container: its process id says nothing here.
    if (m[4] !== undefined && m[3] !== tag) continue;
    if (!Number.isSafeInteger(pid) || pid <= 0 || alive(pid)) continue;
    const path = join(parent, name);
    try {
      if (!ownFolder(await lstat(path))) continue;
      // A run killed between its two renames left the previous output as `.old` and nothing at `<name>`: put it back.
      const out = join(parent, m[1] as string);
      if (m[5] !== undefined && !(await lstat(out).then(() => true, () => false))) {
        await rename(path, out);
        removed.push(`restored ${out} from ${path}, left by process ${pid}, which was stopped while replacing it`);
        continue;
      }
      // rm never follows symbolic links: a link inside is removed, not what it points to.
      await rm(path, { recursive: true, force: true });
      removed.push(`removed ${path}, left behind by process ${pid}, which is gone`);
    } catch {
      // left for a later run
    }
  }
  return removed;
}
