/**
 * `export --push` takes each shard's SHA-256 (its LFS oid) in the reads that verify it, instead of reading and hashing
 * the written file a second time before its upload; the oid is still the SHA-256 of every byte of the file, and a
 * shard changed between its verification and its upload is refused, with nothing committed.
 *
 * The model (writeModelFolder, rows 800,000): three bfloat16 tensors of 12.8 MB and a small one, exported at
 * --max-shard-size 20MB into three shards of about 12.8 MB each.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import { exportModel } from "../../src/export/export.js";
import { createExportPublisher } from "../../src/hub/export-push.js";
import { createUploadSession } from "../../src/hub/upload-session.js";
import { cliChild } from "../support/cli-child.js";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import type { DoubleFile } from "../support/hub-double-store.js";
import { tempDir } from "../helpers.js";
import { hubEnv } from "../store/hub-repo-fixture.js";
import { writeModelFolder } from "./model-folder.js";

const ROWS = 800_000;
const SHARDS = [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`);

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The LFS files of the head commit of `repo` on the double: path → sha256 oid. */
function committedOids(d: HubDouble, repo: string): Map<string, string> {
  const r = d.state.repos.get(repo);
  const files: Map<string, DoubleFile> = r?.commits.get(r.refs.get("main") ?? "")?.files ?? new Map();
  const out = new Map<string, string>();
  for (const [path, f] of files) if (f.kind === "lfs") out.set(path, f.oid);
  return out;
}

test("export --push commits each shard under the SHA-256 of its bytes, and reads a written shard once (to verify it), not twice", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    const src = join(t.dir, "src");
    await writeModelFolder(src, { rows: ROWS });
    const sourceBytes = (await readdir(src)).filter((f) => f.endsWith(".safetensors")).reduce((n, f) => n + statSync(join(src, f)).size, 0);
    const env = await hubEnv(d, { HF_TOKEN: "hf_write" });
    const r = await cliChild(["export", "src", "out", "--push", "acme/sha", "--keep-local", "--max-shard-size", "20MB", "--endpoint", d.url, "--json"], { cwd: t.dir, env });
    assert.equal(r.code, 0, r.stderr || r.rawStderr);
    const oids = committedOids(d, "acme/sha");
    let shardBytes = 0;
    for (const name of SHARDS) {
      const bytes = readFileSync(join(t.dir, "out", name));
      assert.ok(bytes.length > 12_000_000, `${name} is ${bytes.length} bytes`);
      shardBytes += bytes.length;
      // The oid committed is the SHA-256 of every byte of the file (length, header, data), computed independently.
      assert.equal(oids.get(name), sha256(bytes), name);
    }
    if (r.readBytes === null) return; // no /proc: the count below cannot be taken
    // What the run must read: the source twice (the tensors, and every source file's SHA-256 for the card), each
    // shard twice (verified once, then read again to be sent). A second full read of the shards for their SHA-256
    // would add another `shardBytes`; headers, module files and the Hub's answers stay far below half of that.
    const extra = r.readBytes - 2 * sourceBytes - 2 * shardBytes;
    assert.ok(extra < shardBytes / 2, `the run read ${r.readBytes} bytes: ${extra} beyond two reads of the source (${sourceBytes}) and of the shards (${shardBytes})`);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});

/**
 * Export with a publisher that, before handing each shard to the upload, lets `tamper` change it (the export has
 * verified and hashed it by then). Returns the export's error, or null.
 */
async function exportTampered(d: HubDouble, dir: string, repoId: string, tamper: (path: string) => void): Promise<unknown> {
  const session = await createUploadSession({ repoId, token: "hf_write", endpoint: d.url, sleep: async () => undefined });
  const inner = createExportPublisher({ session, keepLocal: false, env: { TRUECAST_CACHE: join(dir, "cache") } });
  const publisher: typeof inner = {
    ...inner,
    keepLocal: false,
    shard: (path, fileName, record, hashed) => {
      tamper(path);
      return inner.shard(path, fileName, record, hashed);
    },
  };
  return exportModel({ source: join(dir, "src"), out: join(dir, "out"), maxShardSize: 20_000_000, publisher }).then(
    () => null,
    (e: unknown) => e,
  );
}

/** Flip the last byte of a file in place: same inode and size. */
function flipLastByte(path: string): void {
  const bytes = readFileSync(path);
  bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 1, bytes.length - 1);
  writeFileSync(path, bytes);
}

for (const [what, restoreMtime] of [
  ["written to", false],
  ["written to with its mtime set back", true],
] as const) {
  test(`a shard ${what} after the export verified and hashed it is refused, not sent; nothing is committed`, async () => {
    const d = await startHubDouble();
    const t = await tempDir();
    try {
      await writeModelFolder(join(t.dir, "src"), { rows: ROWS });
      const tampered: string[] = [];
      const error = await exportTampered(d, t.dir, "acme/tampered", (path) => {
        tampered.push(path);
        const before = statSync(path);
        // A file that keeps the shard's times to the nanosecond (utimes from JavaScript numbers would round them).
        const times = `${path}.times`;
        writeFileSync(times, "");
        execFileSync("touch", ["-r", path, times]);
        flipLastByte(path);
        if (restoreMtime) execFileSync("touch", ["-r", times, path]);
        else utimesSync(path, before.atime, new Date(before.mtimeMs + 10_000));
        rmSync(times);
        assert.equal(statSync(path).mtimeMs === before.mtimeMs, restoreMtime);
      });
      assert.ok(tampered.length > 0 && tampered.every((p) => SHARDS.some((s) => p.endsWith(s))), tampered.join(", "));
      assert.ok(error instanceof TruecastError, `expected a refusal, got ${String(error)}`);
      assert.equal(error.code, "VERIFY_FAILED");
      assert.match(error.message, /model-0000[123]-of-00003\.safetensors.*changed/);
      assert.equal(d.requests.filter((r) => r.server === "storage" && r.method === "PUT").length, 0, "no shard was sent");
      assert.equal(d.requests.filter((r) => /\/commit\//.test(r.path)).length, 0, "no commit was attempted");
    } finally {
      await d.stop();
      await t.cleanup();
    }
  });
}
