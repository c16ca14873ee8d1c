/**
 * What the Hub's tree listing says a file's bytes are, checked against the bytes a whole-file read brought: a
 * regular file by its git blob id (SHA-1 of `blob <size>\0` followed by the bytes, the listing's `oid`, as git and
 * huggingface_hub's `git_hash` compute it), an LFS file by its SHA-256 (the listing's `lfs.oid`). A Hub, a mirror or
 * a proxy that sends other bytes under a file's name (same size or not) is refused with one line, before any of
 * them is used. Only reads of a whole file can be checked: ranges of a big shard are not re-hashed (that would mean
 * reading the shard whole).
 */
import { createHash, type Hash } from "node:crypto";
import { TruecastError } from "../errors.js";

const GIT_OID = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** A file's identity as listed: its git blob id (regular file) or its LFS SHA-256, and its size. */
export interface ListedBlob {
  readonly algo: "git-sha1" | "sha256";
  readonly oid: string;
  readonly size: number;
}

/**
 * The identity to check a listed file against: the LFS SHA-256 when it has one, else its git blob id; undefined when
 * the listing gives neither in a usable form (nothing is checked then).
 */
export function listedBlob(f: { size: number; oid?: string | undefined; lfs?: { oid: string; size: number } | undefined }): ListedBlob | undefined {
  if (f.lfs) return SHA256.test(f.lfs.oid) ? { algo: "sha256", oid: f.lfs.oid, size: f.lfs.size } : undefined;
  return f.oid !== undefined && GIT_OID.test(f.oid) ? { algo: "git-sha1", oid: f.oid, size: f.size } : undefined;
}

/** The bytes of one whole file, hashed as they arrive; {@link finish} refuses them unless they are the listed file. */
export class BlobCheck {
  readonly #hash: Hash;
  #seen = 0;

  /** `label`: the file as a person names it (`hf://org/name@rev/config.json`). */
  constructor(readonly blob: ListedBlob, readonly label: string) {
    this.#hash = blob.algo === "git-sha1" ? createHash("sha1").update(`blob ${blob.size}\0`) : createHash("sha256");
  }

  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
    this.#seen += bytes.byteLength;
  }

  /** HUB_VERIFY when the bytes hashed are not the listed file (another size, or another hash). */
  finish(): void {
    const got = this.#hash.digest("hex");
    if (this.#seen === this.blob.size && got === this.blob.oid) return;
    const what = this.blob.algo === "git-sha1" ? "git blob id" : "sha256";
    const size = this.#seen === this.blob.size ? "" : ` (${this.#seen} bytes, the listing says ${this.blob.size})`;
    throw new TruecastError(
      "HUB_VERIFY",
      `${this.label}: the Hub sent bytes whose ${what} is ${got}${size}, not the ${this.blob.oid} its file listing gives; ` +
        `they are not used (the Hub, a mirror or a proxy on the way altered the file): run the same command again, and report it if it persists`,
    );
  }
}

/** Refuses `bytes` (HUB_VERIFY) unless they are the whole listed file. */
export function checkWholeFile(blob: ListedBlob, label: string, bytes: Uint8Array): void {
  const c = new BlobCheck(blob, label);
  c.update(bytes);
  c.finish();
}
