/** sha256 and git blob ids of local files, streamed. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { describeChange, fileChanged, openIdentified, sameIdentity, type FileIdentity } from "./file-identity.js";

/** Bytes read at once when hashing a small file through its handle. */
const READ_BYTES = 1024 * 1024;

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * sha256 and the git blob id of a small file in one pass, read through a handle checked to be the file `id` names
 * (VERIFY_FAILED when it is another file or changed, before or while it is read).
 */
export async function hashRegularFile(path: string, id: FileIdentity): Promise<{ sha256: string; gitOid: string }> {
  const fh = await openIdentified(path, id);
  try {
    const sha = createHash("sha256");
    const git = createHash("sha1").update(`blob ${id.size}\0`);
    const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, id.size)));
    for (let pos = 0; pos < id.size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, id.size - pos), pos);
      if (bytesRead === 0) throw fileChanged(path, `it is shorter than ${id.size} bytes now`);
      sha.update(buf.subarray(0, bytesRead));
      git.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    // Written to while it was read: the bytes hashed may be a mix.
    const st = await fh.stat();
    if (!sameIdentity(st, id)) throw fileChanged(path, describeChange(st, id));
    return { sha256: sha.digest("hex"), gitOid: git.digest("hex") };
  } finally {
    await fh.close();
  }
}

/** The git blob id (sha1 of `blob <size>\0` + bytes) the Hub lists for a regular (non-LFS) file. */
export async function gitBlobOidFile(path: string, size: number): Promise<string> {
  const h = createHash("sha1").update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}
