/**
 * `publish` of a folder with many files that travel inside the commit (each under the Hub's 10 MB limit for a regular
 * file): the commit body is streamed, so the CLI's memory stays flat (it was 2.07 GB for 30 × 9.9 MB), and every
 * byte arrives. The files are generated here, deterministic text from a seed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { cliChild } from "../support/cli-child.js";
import { f32, writeModelFolder } from "../support/build-model.js";

const FILES = 30;
const FILE_BYTES = 9_900_000;
const WORDS = ["tensor", "shard", "bfloat16", "weight", "token", "layer", "norm", "attention", "merge", "vocab", "\n"];

/** `bytes` of word-like text from a xorshift generator seeded with `seed`, written in 1 MiB pieces. */
async function writeText(path: string, bytes: number, seed: number): Promise<void> {
  const out = createWriteStream(path);
  let x = seed >>> 0 || 1;
  let left = bytes;
  while (left > 0) {
    let piece = "";
    while (piece.length < Math.min(left, 1024 * 1024)) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      piece += (WORDS[x % WORDS.length] ?? "") + " ";
    }
    piece = piece.slice(0, Math.min(left, 1024 * 1024));
    left -= piece.length;
    if (!out.write(piece)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest("hex");
}

async function sha256Url(url: string, token: string): Promise<string> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, url);
  const h = createHash("sha256");
  for await (const c of res.body ?? []) h.update(c as Uint8Array);
  return h.digest("hex");
}

test("30 files of 9.9 MB go inside one streamed commit: peak memory stays far below the old 2 GB, bytes identical", { timeout: 300_000 }, async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    const out = join(t.dir, "out");
    await writeModelFolder(out, {
      tensors: [{ name: "w", dtype: "F32", shape: [4], data: f32([1, 2, 3, 4]) }],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "float32" },
    });
    await mkdir(join(out, "notes"));
    const names: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const name = `notes/part-${String(i).padStart(2, "0")}.txt`;
      await writeText(join(out, name), FILE_BYTES, i + 1);
      names.push(name);
    }
    // A bounded heap as well: the old code held every file's base64 as strings and ran out of it.
    const r = await cliChild(["publish", "out", "acme/notes", "--endpoint", d.url, "--json"], {
      cwd: t.dir, env: { HF_TOKEN: "hf_write" }, nodeFlags: ["--max-old-space-size=192"], killAfterMs: 280_000,
    });
    assert.equal(r.code, 0, `child exit ${r.exit}: ${r.stderr}${r.rawStderr.slice(-800)}`);
    const report = JSON.parse(r.stdout) as { files: Array<{ path: string; lfs: boolean }> };
    assert.deepEqual(report.files.filter((f) => f.path.startsWith("notes/")).map((f) => f.lfs), new Array<boolean>(FILES).fill(false), "they went inside the commit");
    assert.ok(r.maxRssBytes !== null && r.maxRssBytes < 300 * 1024 * 1024, `peak RSS ${r.maxRssBytes} for ${FILES * FILE_BYTES} bytes inside the commit`);
    const commits = d.requests.filter((q) => q.method === "POST" && /\/commit\//.test(q.path) && q.status === 200);
    assert.equal(commits.length, 1);
    assert.ok((commits[0]?.bytesReceived ?? 0) > (FILES * FILE_BYTES * 4) / 3, "the contents travelled in the commit body");
    for (const name of names) {
      assert.equal(await sha256Url(`${d.url}/acme/notes/resolve/main/${name}`, "hf_write"), await sha256File(join(out, name)), name);
    }
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
