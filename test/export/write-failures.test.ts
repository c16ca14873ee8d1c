/**
 * Failures while writing get a clear line, not "unexpected error": a disk that fills up mid-write, carried files
 * that do not fit, an unreadable carried file (found before any weight is written), and another run that wrote the
 * same new output meanwhile.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, open, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";
import { exportModel } from "../../src/export/export.js";
import { FREE_SPACE_MARGIN, StagedOutput } from "../../src/export/output-dir.js";

async function model(dir: string, files: Record<string, string> = {}): Promise<void> {
  await writeModelFolder(dir, {
    tensors: [
      { name: "a.weight", dtype: "BF16", shape: [64, 32], data: bf16Weights(2048, 1) },
      { name: "b.weight", dtype: "BF16", shape: [64, 32], data: bf16Weights(2048, 2) },
    ],
    config: { torch_dtype: "bfloat16" },
    files: { "tokenizer.json": '{"model":{}}', ...files },
  });
}

test("a disk that fills up mid-write is one line naming the file and the space missing; nothing is left", async () => {
  const { dir, cleanup } = await tempDir();
  const probe = await open(join(repoRoot(), "package.json"), "r");
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<{ bytesWritten: number }> };
  await probe.close();
  const realWrite = proto.write;
  try {
    await model(join(dir, "m"));
    // The "disk" takes 6000 bytes: the first shard fits, the second does not.
    let room = 6000;
    proto.write = function (this: unknown, ...args: unknown[]) {
      const length = typeof args[2] === "number" ? args[2] : (args[0] as Uint8Array).byteLength;
      if (length > room) return Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" }));
      room -= length;
      return realWrite.apply(this, args);
    };
    const r = await cli(["export", "m", "out", "--max-shard-size", "4KB"], { cwd: dir });
    proto.write = realWrite;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.match(
      r.stderr,
      /^truecast: no space left on the disk holding .*out while writing model-00002-of-00002\.safetensors: [\d.]+ [KM]?B of [\d.]+ [KM]?B was written and about [\d.]+ [KMGT]?B more is needed .*; nothing was left at .*out; free some space or choose another output folder\n$/,
    );
    assert.deepEqual(await readdir(dir), ["m"]);
  } finally {
    proto.write = realWrite;
    await cleanup();
  }
});

test("the free-space check counts the carried files, not only the weights", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await model(join(dir, "small"));
    await model(join(dir, "big"), { "tokenizer.json": JSON.stringify({ vocab: "x".repeat(300_000) }) });
    const weights = (await stat(join(dir, "small", "model.safetensors"))).size;
    // Room for the weights, the head-room and a little more: enough unless the 300 KB tokenizer counts.
    const freeBytes = async () => weights + FREE_SPACE_MARGIN + 100_000;
    const ok = await exportModel({ source: join(dir, "small"), out: join(dir, "out-small"), freeBytes });
    assert.equal(ok.tensorCount, 2);
    await assert.rejects(exportModel({ source: join(dir, "big"), out: join(dir, "out-big"), freeBytes }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "NO_SPACE");
      assert.match(e.message, /^the export needs .* but only .* is free where .*out-big goes/);
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ["big", "out-small", "small"]);
  } finally {
    await cleanup();
  }
});

test("an unreadable carried file is refused by name before any weight is written", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // As root, permissions do not stop a read: run the CLI as an unprivileged user then.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const work = join(dir, "work");
    await chmod(dir, 0o755);
    await mkdir(work, { mode: 0o777 });
    await chmod(work, 0o777);
    await model(join(work, "m"));
    await chmod(join(work, "m", "tokenizer.json"), 0o000);
    const child = spawn(process.execPath, [join(repoRoot(), "dist", "src", "cli", "main.js"), "export", "m", "out"], { cwd: work, stdio: ["ignore", "pipe", "pipe"], ...asUser });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^truecast: carried file .*m\/tokenizer\.json: permission denied; the export carries it, so it must be readable \(check its permissions\); nothing was written\n$/);
    assert.deepEqual(await readdir(work), ["m"]);
  } finally {
    await cleanup();
  }
});

test("a new output written by another run meanwhile is left as it is, with a clear line", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = join(dir, "out");
    const staged = await StagedOutput.create({ out, force: false });
    await writeFile(staged.path("config.json"), "{}");
    // The other run finishes first.
    await mkdir(out);
    await writeFile(join(out, "config.json"), '{"other":true}');
    await assert.rejects(staged.commit(), (e: Error & { code?: string }) => {
      assert.equal(e.code, "OUTPUT_EXISTS");
      assert.match(e.message, /out was written by another run while this one was working; it was left as that run wrote it/);
      return true;
    });
    await staged.discard();
    assert.equal(await readFile(join(out, "config.json"), "utf8"), '{"other":true}');
    assert.deepEqual(await readdir(dir), ["out"]);
  } finally {
    await cleanup();
  }
});
