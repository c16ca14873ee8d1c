/**
 * Before a commit: does the revision already hold every file of it, byte for byte? Then the commit would change
 * nothing, and none is made (re-publishing an unchanged folder leaves no empty commit). LFS files are compared by
 * sha256 and size, files that travel inside the commit by their git blob id, as the Hub's tree lists them.
 */
import { gitBlobOidFile } from "./file-hash.js";
import { listTree, type TreeFile } from "./list-tree.js";
import type { HubTarget } from "./repo-setup.js";
import type { UploadedFile } from "./upload-session.js";

/** True when commit `commit` of the target repo holds each of `files` with the same bytes (extra remote files allowed: a commit never deletes them). */
export async function remoteAlreadyHolds(t: HubTarget, commit: string, files: readonly UploadedFile[]): Promise<boolean> {
  if (files.length === 0) return false;
  const remote = new Map<string, TreeFile>();
  for (const e of await listTree(t, commit)) remote.set(e.path, e);
  for (const f of files) {
    const r = remote.get(f.pathInRepo);
    if (!r || r.size !== f.size) return false;
    if (r.lfs) {
      if (!f.lfs || r.lfs.oid !== f.oid || r.lfs.size !== f.size) return false;
    } else {
      if (f.lfs) return false;
      const local = f.gitOid ?? (await gitBlobOidFile(f.localPath, f.size));
      if (r.oid !== local) return false;
    }
  }
  return true;
}
