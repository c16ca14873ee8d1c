/**
 * The SHA-256 a Hugging Face cache gives for free: a snapshot entry (`models--org--name/snapshots/<commit>/<file>`)
 * of an LFS file is a link to `../../blobs/<sha256>`, the blob named by the digest the Hub lists as its LFS oid.
 */
import { realpath } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { allowedRoot } from "../util/real-path.js";

/** 64 lowercase hex digits: an LFS blob's name (a regular file's blob is named by its 40-digit git id instead). */
const SHA256_NAME = /^[0-9a-f]{64}$/;

/**
 * The SHA-256 of `path` when it is a Hugging Face cache snapshot entry whose real file is the repository's
 * `blobs/<64 hex digits>`; null for any other file (which must then be read to be digested).
 */
export async function cachedBlobSha256(path: string): Promise<string | null> {
  const dir = dirname(resolve(path));
  const root = await allowedRoot(dir);
  if (root === dir) return null;
  const [real, realRoot] = await Promise.all([realpath(path).catch(() => null), realpath(root).catch(() => null)]);
  if (real === null || realRoot === null || dirname(real) !== join(realRoot, "blobs")) return null;
  const name = basename(real);
  return SHA256_NAME.test(name) ? name : null;
}
