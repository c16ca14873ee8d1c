/**
 * One file of a Hub repository downloaded to a local path, surviving dropped connections: the request goes through
 * the Hub's retrying fetch (hub/hub-fetch.ts: retries before an answer, deadlines, the token kept on the endpoint),
 * and a body cut off mid-file is resumed with a Range request from the bytes already received. Resumed bytes are
 * spliced only when the Hub gave the file's sha256 (an LFS file's `X-Linked-Etag`), so the whole can be checked;
 * a file without one (a small regular file) starts again from its first byte. A regular file's ETag is its git blob
 * id (SHA-1 of `blob <size>\0` + bytes), which the whole file is checked against. The bytes go to a temporary
 * sibling that is renamed only when the size and the sha256 or git blob id match; a failure leaves nothing behind.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { TruecastError } from "../errors.js";

/** Body cut-offs one download survives (each then resumes, or restarts); the next one fails it. */
export const MAX_RESUMES = 5;

const SHA256 = /^[0-9a-f]{64}$/;
/** A regular file's ETag on the Hub: its git blob id. */
const GIT_OID = /^[0-9a-f]{40}$/;

export interface ResumableDownloadParams {
  /** The retrying fetch of the Hub (createHubFetch), with the transfer deadlines while this file downloads. */
  fetch: typeof fetch;
  url: string;
  /** Bytes the Hub announced. */
  size: number;
  /**
   * The Hub's etag for the file: a sha256 (an LFS file's) lets a broken body resume, and is checked; a git blob id
   * (a regular file's) is checked, and a broken body restarts; anything else restarts it, unchecked.
   */
  etag: string;
  dest: string;
  /** For messages: the file's path in the repository. */
  name: string;
  signal?: AbortSignal;
}

function tempName(dest: string): string {
  return `${dest}.truecast-${process.pid}-${randomBytes(6).toString("hex")}.incomplete`;
}

/** Where a 206 answer's bytes start, from `Content-Range: bytes a-b/total`; null when absent or unreadable. */
function rangeStart(res: Response): { start: number; total: number | null } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
  if (!m) return null;
  return { start: Number(m[1]), total: m[3] === "*" ? null : Number(m[3]) };
}

function isDrop(e: unknown): boolean {
  return e instanceof TruecastError ? e.code === "HUB_NETWORK" : !(e instanceof Error && e.name === "AbortError");
}

/** Download `url` to `dest`; see the file comment. Throws HUB_NETWORK after MAX_RESUMES cut-offs, HUB_SERVER on bytes that do not check out. */
export async function downloadResumable(p: ResumableDownloadParams): Promise<void> {
  const sha256 = SHA256.test(p.etag) ? p.etag : null;
  const gitOid = GIT_OID.test(p.etag) ? p.etag : null;
  /** sha256 of the bytes, or for a regular file the git blob id (its header hashed first). */
  const newHash = () => (gitOid === null ? createHash("sha256") : createHash("sha1").update(`blob ${p.size}\0`));
  await mkdir(dirname(p.dest), { recursive: true });
  const tmp = tempName(p.dest);
  const fh = await open(tmp, "w");
  let written = 0;
  let hash = newHash();
  const restart = async () => {
    written = 0;
    hash = newHash();
    await fh.truncate(0);
  };
  /** Why the last attempt ended early, for the message. */
  let lastCause = "the body ended early";
  try {
    for (let cutOffs = 0; written < p.size; ) {
      const before = written;
      const res = await p.fetch(p.url, { headers: { Range: `bytes=${written}-${p.size - 1}` }, ...(p.signal && { signal: p.signal }) });
      if (res.status === 200) {
        // The whole file (a server that ignores Range): whatever was kept is replaced.
        if (written > 0) await restart();
      } else if (res.status === 206) {
        const r = rangeStart(res);
        if (r === null || r.start !== written || (r.total !== null && r.total !== p.size)) {
          await res.body?.cancel().catch(() => undefined);
          throw new TruecastError("HUB_SERVER", `${p.name}: asked for bytes from ${written} of ${p.size}, the Hub answered ${res.headers.get("content-range") ?? "no Content-Range"}; run again`);
        }
      } else {
        await res.body?.cancel().catch(() => undefined);
        throw new TruecastError("HUB_SERVER", `${p.name}: the Hub answered HTTP ${res.status} to the download; run again`);
      }
      try {
        if (res.body === null) throw new TruecastError("HUB_NETWORK", `${p.name}: an answer without a body`);
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          if (written + chunk.byteLength > p.size) {
            throw new TruecastError("HUB_SERVER", `${p.name}: the Hub announced ${p.size} bytes but sends more; run again`);
          }
          await fh.write(chunk, 0, chunk.byteLength, written);
          hash.update(chunk);
          written += chunk.byteLength;
        }
        lastCause = "the body ended early";
      } catch (e) {
        if (!isDrop(e)) throw e;
        lastCause = e instanceof Error ? e.message : String(e);
      }
      if (written >= p.size) break;
      // Cut off (an error, or a body that ended short): resume from here when the whole can be checked.
      if (++cutOffs > MAX_RESUMES) {
        throw new TruecastError(
          "HUB_NETWORK",
          `${p.name}: the Hub announced ${p.size} bytes, but the download broke off ${cutOffs} times (the last attempt brought ${written - before}, ` +
            `ending with: ${lastCause}); nothing was kept; check the connection and run again`,
        );
      }
      if (sha256 === null) await restart();
    }
    if (written !== p.size) throw new TruecastError("HUB_NETWORK", `${p.name}: the Hub announced ${p.size} bytes but sent ${written}; run again`);
    const got = hash.digest("hex");
    if (sha256 !== null && got !== sha256) {
      throw new TruecastError("HUB_SERVER", `${p.name}: the bytes downloaded have sha256 ${got}, not the ${sha256} the Hub announced; nothing was kept; run again`);
    }
    if (gitOid !== null && got !== gitOid) {
      throw new TruecastError("HUB_SERVER", `${p.name}: the bytes downloaded have git blob id ${got}, not the ${gitOid} the Hub announced (its ETag); nothing was kept; run again`);
    }
    await fh.close();
    await rename(tmp, p.dest);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
