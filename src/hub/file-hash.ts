/** sha256 and git blob ids of local files, streamed. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** sha256 and the git blob id of a small file in one pass. */
export async function hashRegularFile(path: string, size: number): Promise<{ sha256: string; gitOid: string }> {
  const sha = createHash("sha256");
  const git = createHash("sha1").update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) {
    sha.update(chunk as Buffer);
    git.update(chunk as Buffer);
  }
  return { sha256: sha.digest("hex"), gitOid: git.digest("hex") };
}

/** The git blob id (sha1 of `blob <size>\0` + bytes) the Hub lists for a regular (non-LFS) file. */
export async function gitBlobOidFile(path: string, size: number): Promise<string> {
  const h = createHash("sha1").update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}
