import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BASE64_READ_BYTES, CommitBody, type CommitBodyFile } from "../../src/hub/commit-body.js";
import { TruecastError } from "../../src/errors.js";
import { tempDir } from "../helpers.js";
import { randomBytes } from "../support/build-model.js";

async function collect(body: Blob): Promise<{ bytes: Buffer; chunks: number; largest: number }> {
  const parts: Buffer[] = [];
  let largest = 0;
  const reader = body.stream().getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    parts.push(Buffer.from(r.value));
    largest = Math.max(largest, r.value.byteLength);
  }
  return { bytes: Buffer.concat(parts), chunks: parts.length, largest };
}

test("the streamed ndjson commit has the size it announced and decodes to the exact bytes of every file", async () => {
  const t = await tempDir();
  try {
    // Sizes around base64's 3-byte groups and the read chunk, where a chunked encoder goes wrong.
    const sizes = [0, 1, 2, 3, 4, BASE64_READ_BYTES - 1, BASE64_READ_BYTES, BASE64_READ_BYTES + 1, 2 * BASE64_READ_BYTES + 2];
    const files: CommitBodyFile[] = [];
    const contents = new Map<string, Buffer>();
    for (const [i, n] of sizes.entries()) {
      const bytes = Buffer.from(randomBytes(n, i + 1));
      const localPath = join(t.dir, `f${i}`);
      await writeFile(localPath, bytes);
      const pathInRepo = i === 2 ? 'odd "name"\n\u0000content\u0000.txt' : `dir/f${i}.txt`;
      contents.set(pathInRepo, bytes);
      files.push({ localPath, pathInRepo, size: n, oid: createHash("sha256").update(bytes).digest("hex"), lfs: false });
    }
    files.push({ localPath: "/nonexistent", pathInRepo: "model.safetensors", size: 5, oid: "a".repeat(64), lfs: true });
    const body = new CommitBody({ summary: "s", description: "", parentCommit: "b".repeat(40) }, files);
    const first = await collect(body);
    assert.equal(first.bytes.length, body.size, "Content-Length matches what is sent");
    assert.ok(first.largest <= (BASE64_READ_BYTES / 3) * 4, `chunks stay small (largest ${first.largest})`);
    const again = await collect(body);
    assert.ok(again.bytes.equals(first.bytes), "a retry replays the same bytes");

    const lines = first.bytes.toString("utf8").split("\n").map((l) => JSON.parse(l) as { key: string; value: Record<string, unknown> });
    assert.deepEqual(lines[0], { key: "header", value: { summary: "s", description: "", parentCommit: "b".repeat(40) } });
    assert.deepEqual(lines.at(-1), { key: "lfsFile", value: { path: "model.safetensors", algo: "sha256", size: 5, oid: "a".repeat(64) } });
    const decoded = lines.slice(1, -1).map((l) => {
      assert.equal(l.key, "file");
      assert.equal(l.value.encoding, "base64");
      return [l.value.path as string, Buffer.from(l.value.content as string, "base64")] as const;
    });
    assert.equal(decoded.length, sizes.length);
    for (const [path, bytes] of decoded) assert.ok(bytes.equals(contents.get(path) ?? Buffer.alloc(1)), path);
  } finally {
    await t.cleanup();
  }
});

test("a file that changed size since it was hashed fails the stream with VERIFY_FAILED, naming it", async () => {
  const t = await tempDir();
  try {
    const p = join(t.dir, "tokenizer.json");
    await writeFile(p, "0123456789");
    const body = new CommitBody({ summary: "s" }, [{ localPath: p, pathInRepo: "tokenizer.json", size: 12, oid: "c".repeat(64), lfs: false }]);
    await assert.rejects(collect(body), (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED" && e.message.includes(p));
  } finally {
    await t.cleanup();
  }
});

test("a small file swapped after hashing for a link to a secret of the same size fails before a byte of it is sent", async () => {
  const t = await tempDir();
  try {
    const p = join(t.dir, "tokenizer.json");
    const original = Buffer.from("{\"x\":\"....................................\"}");
    const secret = Buffer.from("hf_" + "S".repeat(original.length - 3));
    await writeFile(p, original);
    const f = { localPath: p, pathInRepo: "tokenizer.json", size: original.length, oid: createHash("sha256").update(original).digest("hex"), lfs: false };
    // Listed and hashed; then, before the commit body reads it, the path becomes a link to the secret.
    await writeFile(join(t.dir, "token"), secret);
    await rm(p);
    await symlink("token", p);
    const sent: Uint8Array[] = [];
    const reader = new CommitBody({ summary: "s" }, [f]).stream().getReader();
    await assert.rejects(
      (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) sent.push(r.value);
      })(),
      (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED" && e.message.includes(p) && e.message.includes("other bytes"),
    );
    const text = Buffer.concat(sent).toString("utf8");
    assert.equal(text.includes(secret.toString("base64").slice(0, 8)), false);
    assert.equal(text.includes("hf_"), false);
  } finally {
    await t.cleanup();
  }
});
