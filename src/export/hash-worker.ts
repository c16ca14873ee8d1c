/**
 * Worker thread: digests byte ranges of a file (util/digest.ts), reading it with plain synchronous reads
 * (this thread does nothing else), so that verification runs beside the writer on another core. A shard about to be
 * uploaded is also hashed whole with SHA-256 (the LFS oid) in the same reads: see the pass tasks in hash-protocol.ts.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { createDigest, type Digest } from "../util/digest.js";
import type { HashReply, HashRequest, HashTask, PassEndTask, PassFile } from "./hash-protocol.js";

/**
 * Bytes read per step: small enough to stay in the core's cache between the kernel's copy and the digest (8 MiB steps
 * cost ~30% more CPU per GB than 128 KiB ones, in the read copy), large enough for the calls' fixed costs not to matter.
 */
const STEP = 128 * 1024;

const buffer = Buffer.allocUnsafe(STEP);

/** A whole-file SHA-256 being fed by a shard's verification reads. */
interface Pass {
  readonly sha: Hash;
  /** Bytes of the file hashed so far (all of them from 0). */
  pos: number;
  /** The file the pass read first: every later read must be of the same one. */
  dev: number | null;
  ino: number | null;
}

const passes = new Map<number, Pass>();

function passOf(id: number): Pass {
  let p = passes.get(id);
  if (!p) passes.set(id, (p = { sha: createHash("sha256"), pos: 0, dev: null, ino: null }));
  return p;
}

/** Open `path`; with a pass, require the file the pass has read so far (a file put in its place is refused). */
function openFor(path: string, pass: Pass | null): number {
  const fd = openSync(path, "r");
  if (pass === null) return fd;
  const st = fstatSync(fd);
  if (pass.dev === null) {
    pass.dev = st.dev;
    pass.ino = st.ino;
  } else if (st.dev !== pass.dev || st.ino !== pass.ino) {
    closeSync(fd);
    throw new Error(`${path} was replaced by another file while it was verified`);
  }
  return fd;
}

/** Read `length` bytes at `start` and give each step to `take`. */
function feed(fd: number, path: string, start: number, length: number, what: string, take: (bytes: Buffer) => void): void {
  let done = 0;
  while (done < length) {
    const want = Math.min(STEP, length - done);
    const got = readSync(fd, buffer, 0, want, start + done);
    if (got <= 0) throw new Error(`${path} ends at byte ${start + done}, inside ${what}`);
    take(buffer.subarray(0, got));
    done += got;
  }
}

function hashRanges(task: HashTask): string[] {
  const pass = task.pass === undefined ? null : passOf(task.pass);
  const fd = openFor(task.path, pass);
  try {
    return task.ranges.map(({ start, length }) => {
      const hash: Digest = createDigest();
      if (pass === null) {
        feed(fd, task.path, start, length, "a tensor", (b) => hash.update(b));
        return hash.digest();
      }
      if (start < pass.pos) throw new Error(`${task.path}: bytes at ${start} were asked for after those up to ${pass.pos}; this is a truecast bug`);
      // What lies before the tensor (the header, for the first one) is part of the file's SHA-256 only.
      feed(fd, task.path, pass.pos, start - pass.pos, "its header", (b) => pass.sha.update(b));
      feed(fd, task.path, start, length, "a tensor", (b) => {
        hash.update(b);
        pass.sha.update(b);
      });
      pass.pos = start + length;
      return hash.digest();
    });
  } finally {
    closeSync(fd);
  }
}

function endPass(task: PassEndTask): { sha256: string; file: PassFile } {
  const pass = passOf(task.pass);
  passes.delete(task.pass);
  const fd = openFor(task.path, pass);
  try {
    feed(fd, task.path, pass.pos, task.size - pass.pos, "its last bytes", (b) => pass.sha.update(b));
    const st = fstatSync(fd);
    return { sha256: pass.sha.digest("hex"), file: { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs } };
  } finally {
    closeSync(fd);
  }
}

parentPort?.on("message", (task: HashRequest) => {
  if (task.type === "drop") {
    passes.delete(task.pass);
    return;
  }
  let reply: HashReply;
  try {
    reply = task.type === "end" ? { id: task.id, ...endPass(task) } : { id: task.id, digests: hashRanges(task) };
  } catch (e) {
    reply = { id: task.id, error: (e as Error).message };
  }
  parentPort?.postMessage(reply);
});
