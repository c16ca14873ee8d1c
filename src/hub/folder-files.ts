/**
 * The files of a folder to publish: every regular file, recursively, skipping hidden names (a leading '.')
 * at any depth, with paths in the repo written with '/'. Symbolic links are followed, but only to files inside the
 * folder (or, for a Hugging Face cache snapshot, inside its repository folder, where they point into `blobs/`):
 * a link to anywhere else is refused by name, so that nothing outside the folder is ever uploaded.
 */
import { lstat, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../errors.js";
import { allowedRoot, checkInsideRoot } from "../util/real-path.js";
import { identityOf, type FileIdentity } from "./file-identity.js";

export interface LocalFile {
  /** Absolute or caller-relative path on disk. */
  localPath: string;
  /** Path in the repository, '/'-separated. */
  pathInRepo: string;
  size: number;
  /**
   * The file as listed (after the link check: a link's target): every later read checks it on the opened handle,
   * so a file replaced or re-linked after the listing is refused, not hashed or sent.
   */
  identity: FileIdentity;
}

/** How deep a folder may nest; deeper trees are almost surely a mistake (a whole home folder). */
const MAX_DEPTH = 16;

export async function listFolderFiles(folder: string): Promise<LocalFile[]> {
  try {
    if (!(await stat(folder)).isDirectory()) throw new TruecastError("USAGE", `${folder} is not a folder; publish takes a model folder`);
  } catch (e) {
    if (e instanceof TruecastError) throw e;
    throw new TruecastError("NOT_FOUND", `${folder} does not exist; check the path`);
  }
  const root = await allowedRoot(folder);
  const out: LocalFile[] = [];
  async function walk(dir: string, prefix: string, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new TruecastError("USAGE", `${dir} is nested more than ${MAX_DEPTH} folders deep; publish a model folder`);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const localPath = join(dir, e.name);
      const pathInRepo = prefix ? `${prefix}/${e.name}` : e.name;
      // lstat, not the entry's type from readdir: a file turned into a link since then is checked as a link.
      const own = await lstat(localPath);
      // The identity is taken from the checked real path, so it names a file inside the root.
      const info = own.isSymbolicLink() ? await stat(await checkInsideRoot(localPath, root)) : own;
      if (info.isDirectory()) await walk(localPath, pathInRepo, depth + 1);
      else if (info.isFile()) out.push({ localPath, pathInRepo, size: info.size, identity: identityOf(info) });
    }
  }
  await walk(folder, "", 0);
  if (out.length === 0) throw new TruecastError("PUBLISH_REFUSED", `${folder} holds no files to publish`);
  return out;
}
