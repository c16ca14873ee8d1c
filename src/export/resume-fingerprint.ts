/**
 * The fingerprint of what decides an export's shard bytes, for resuming an interrupted `export --push`: a shard an
 * earlier run put on the Hub stands in for this run's only when both runs have the same fingerprint.
 *
 * Shards are a pure function of their inputs: the plan fixes every shard's file name and header bytes (names,
 * dtypes, shapes, offsets, `__metadata__` {"format": "pt"}), and each tensor's bytes are its source bytes, copied, or
 * converted or merged by deterministic code. So the fingerprint is a sha256 over
 * - truecast's version, the tensor digest it records (xxh3-64 or sha256) and the dtype policy;
 * - the plan: every shard's file name, size and header bytes, and each tensor's origin, source dtype and length, and
 *   what computed it (a LoRA merge);
 * - the inputs: a Hub source's pinned commit, and every weight file by its LFS sha256 when the store knows it, else
 *   (a local file) by device, inode, size, mtime and ctime; and every file under the local input paths (source,
 *   adapter, base folder: adapter_config.json or cfg.yaml change merged bytes without being weight files) the same way.
 * `--allow-overflow` is left out on purpose: it decides whether a run finishes, never the bytes of a shard it wrote.
 * An input that cannot be pinned down this way (too many files, an unreadable entry, a Hub source without its
 * commit) makes the fingerprint unique to this run: nothing is resumed, which is never wrong.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Stats } from "node:fs";
import type { SourceModel } from "../sources/tensor-ref.js";
import { isHubSpec } from "../store/hub-spec.js";
import { DIGEST_ALGORITHM } from "../util/digest.js";
import { truecastVersion } from "../version.js";
import type { DtypePolicy, ExportPlan } from "./plan.js";

/** Most entries listed under the local input paths: a folder with more is not pinned down (nothing is resumed). */
const MAX_INPUT_ENTRIES = 20_000;
/** Deepest folder level listed under an input path (a model folder is flat; an H2O experiment nests a level or two). */
const MAX_INPUT_DEPTH = 8;

/** Raised inside the walk when an input cannot be pinned down; turns the fingerprint into a one-off. */
class Unpinned extends Error {}

function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Every entry under `root` (a file or a folder), by relative path and identity, in a fixed order. */
async function hashInput(h: Hash, root: string): Promise<void> {
  let count = 0;
  const visit = async (path: string, rel: string, depth: number): Promise<void> => {
    if (++count > MAX_INPUT_ENTRIES || depth > MAX_INPUT_DEPTH) throw new Unpinned(root);
    const own = await lstat(path);
    // A link is followed for its target's identity (a Hugging Face cache snapshot links to blobs).
    const st = own.isSymbolicLink() ? await stat(path) : own;
    h.update(`\u0000${rel}\u0000${st.isDirectory() ? "dir" : st.isFile() ? "file" : "other"}:${identity(st)}`);
    if (!st.isDirectory() || own.isSymbolicLink()) return;
    const names = (await readdir(path)).sort();
    for (const name of names) await visit(join(path, name), rel === "" ? name : `${rel}/${name}`, depth + 1);
  };
  await visit(root, "", 0);
}

/**
 * The fingerprint (64 hex digits) of an export of `model` under `plan` and `policy`; `inputs` are the local paths the
 * run reads besides the weight files (the source path, `--adapter`, `--base` folder).
 */
export async function exportFingerprint(p: {
  model: SourceModel;
  plan: ExportPlan;
  policy: DtypePolicy;
  inputs: readonly string[];
}): Promise<string> {
  const h = createHash("sha256");
  try {
    h.update(`truecast ${truecastVersion()}\u0000digest ${DIGEST_ALGORITHM}\u0000policy ${p.policy}\u0000kind ${p.model.kind}\u0000path ${p.model.path}`);
    if (isHubSpec(p.model.path)) {
      if (p.model.commit === undefined) throw new Unpinned(p.model.path);
      h.update(`\u0000commit ${p.model.commit}`);
    }
    for (const f of p.model.weightFiles ?? []) {
      if (f.known !== undefined) h.update(`\u0000weights ${f.role} ${f.name} ${f.known.bytes} ${f.known.sha256}`);
      else h.update(`\u0000weights ${f.role} ${f.name} ${await realpath(f.path)} ${identity(await stat(f.path))}`);
    }
    for (const input of p.inputs) {
      if (isHubSpec(input)) continue;
      h.update(`\u0000input ${await realpath(input)}`);
      await hashInput(h, input);
    }
    for (const shard of p.plan.shards) {
      h.update(`\u0000shard ${shard.fileName} ${shard.fileSize}\u0000`);
      for (const chunk of shard.headerChunks()) h.update(chunk);
      for (const ref of shard.sources) h.update(`\u0000${ref.origin}\u0000${ref.dtype} ${ref.byteLength} ${ref.computed ?? ""}`);
    }
  } catch (e) {
    // Unreadable or unpinnable inputs: a fingerprint no other run has.
    if (!(e instanceof Unpinned) && !(e as NodeJS.ErrnoException | null)?.code) throw e;
    return randomBytes(32).toString("hex");
  }
  return h.digest("hex");
}
