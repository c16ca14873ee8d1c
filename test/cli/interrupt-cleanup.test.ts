/**
 * Every way a run can end cleans up: SIGTERM and SIGHUP like Ctrl-C, and staging folders of killed runs (SIGKILL)
 * are removed by the next run in the same folder, never one whose process is alive.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

const MAIN = join(repoRoot(), "dist", "src", "cli", "main.js");

/** A model big enough (96 MB of bfloat16, widened to float32) to still be writing when the signal comes. */
async function bigModel(dir: string): Promise<void> {
  const tensor = (name: string) => ({ name, dtype: "BF16" as const, shape: [4096, 4096], data: Buffer.alloc(4096 * 4096 * 2).fill(Buffer.from([0x80, 0x3f])) });
  await writeModelFolder(dir, { tensors: [tensor("a.weight"), tensor("b.weight"), tensor("c.weight")], config: { torch_dtype: "bfloat16" } });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Resolve once `dir` holds an entry whose name starts with `prefix` (polled: no timing is asserted). */
async function appears(dir: string, prefix: string, child: ChildProcess): Promise<void> {
  while (!readdirSync(dir).some((n) => n.startsWith(prefix))) {
    if (child.exitCode !== null) throw new Error(`the export ended (${child.exitCode}) before its staging folder was seen`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  test(`${signal} during an export removes the staging folder and exits ${code} with one line`, async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await bigModel(join(dir, "big"));
      const child = spawn(process.execPath, [MAIN, "export", "big", "out", "--dtype", "float32"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
      const done = exited(child);
      await appears(dir, ".out.truecast-", child);
      child.kill(signal);
      const end = await done;
      assert.deepEqual(end, { code, signal: null }, stderr);
      assert.equal(stderr, `truecast: interrupted by ${signal}; nothing was written\n`);
      assert.deepEqual(await readdir(dir), ["big"]);
    } finally {
      await cleanup();
    }
  });
}

function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("no pid");
  return exited(child).then(() => pid);
}

test("a run removes staging folders of dead runs in its parent folder, keeps live ones, and never follows links", async () => {
  const { dir, cleanup } = await tempDir();
  const live = spawn("sleep", ["60"], { stdio: "ignore" });
  try {
    await writeModelFolder(join(dir, "m"), {
      tensors: [{ name: "a.weight", dtype: "BF16", shape: [16, 8], data: bf16Weights(128, 4) }],
      config: { torch_dtype: "bfloat16" },
    });
    const dead = await deadPid();
    await mkdir(join(dir, "other"));
    const stale = [`.out.truecast-${dead}-0badc0de`, `.other.truecast-${dead}-12345678.old`];
    for (const name of stale) {
      await mkdir(join(dir, name, "sub"), { recursive: true });
      await writeFile(join(dir, name, "sub", "model-00001-of-00002.safetensors"), "partial");
    }
    // Inside a stale folder, a link to the user's files: removing the folder must not follow it.
    await mkdir(join(dir, "keep"));
    await writeFile(join(dir, "keep", "precious.txt"), "precious");
    await symlink("../keep", join(dir, stale[0] as string, "link"));
    // A link named like a staging folder, a live run's folder, and a name that only looks similar.
    await symlink("keep", join(dir, `.fake.truecast-${dead}-aaaaaaaa`));
    const liveName = `.out.truecast-${live.pid}-cafebabe`;
    await mkdir(join(dir, liveName));
    await writeFile(join(dir, liveName, "shard"), "being written");
    await mkdir(join(dir, `.out.truecast-x${dead}-deadbeef`));
    // A run killed between moving the previous output aside and moving the new one in: the previous one comes back.
    await mkdir(join(dir, `.prev.truecast-${dead}-87654321.old`));
    await writeFile(join(dir, `.prev.truecast-${dead}-87654321.old`, "config.json"), "previous");

    const r = await cli(["export", "m", "out"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    for (const name of stale) assert.match(r.stdout, new RegExp(`note: removed .*${name.replace(/\./g, "\\.")}, left behind by process ${dead}, which is gone`));
    assert.match(r.stdout, new RegExp(`note: restored .*prev from .*\\.prev\\.truecast-${dead}-87654321\\.old, left by process ${dead}, which was stopped while replacing it`));
    assert.equal(await readFile(join(dir, "prev", "config.json"), "utf8"), "previous");
    assert.deepEqual((await readdir(dir)).sort(), [`.fake.truecast-${dead}-aaaaaaaa`, `.out.truecast-x${dead}-deadbeef`, liveName, "keep", "m", "other", "out", "prev"].sort());
    assert.equal(await readFile(join(dir, "keep", "precious.txt"), "utf8"), "precious");
    assert.equal(await readFile(join(dir, liveName, "shard"), "utf8"), "being written");
  } finally {
    live.kill();
    await cleanup();
  }
});
