import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openLocalStore } from "../../src/store/local-store.js";
import { readWholeFile } from "../../src/store/store.js";

test("a local folder lists its files sorted, skips hidden ones and reads ranges", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tc-store-"));
  try {
    await writeFile(join(dir, "b.txt"), "0123456789");
    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "sub", "a.bin"), "xyz");
    await writeFile(join(dir, ".hidden"), "no");
    const store = await openLocalStore(dir);
    assert.deepEqual(await store.list(), [{ path: "b.txt", size: 10 }, { path: "sub/a.bin", size: 3 }]);
    const f = await store.open("b.txt");
    assert.equal(Buffer.from(await f.read(3, 4)).toString(), "3456");
    const parts: string[] = [];
    for await (const c of f.chunks(2, 7, 3)) parts.push(Buffer.from(c).toString());
    assert.deepEqual(parts, ["234", "567", "8"]);
    await f.close();
    assert.equal(Buffer.from(await readWholeFile(store, "sub/a.bin", 100)).toString(), "xyz");
    await assert.rejects(readWholeFile(store, "b.txt", 5), /10 bytes, more than the 5/);
    await assert.rejects(store.open(".hidden"), { code: "NOT_FOUND" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a link out of the folder is refused by name; a cache snapshot's blob link gives the file's SHA-256", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tc-store-"));
  try {
    const repo = join(dir, "models--org--m");
    const sha = "a".repeat(64);
    await mkdir(join(repo, "blobs"), { recursive: true });
    await mkdir(join(repo, "snapshots", "c".repeat(40)), { recursive: true });
    await writeFile(join(repo, "blobs", sha), "weights");
    const snap = join(repo, "snapshots", "c".repeat(40));
    await symlink(join("..", "..", "blobs", sha), join(snap, "model.safetensors"));
    assert.deepEqual(await (await openLocalStore(snap)).list(), [{ path: "model.safetensors", size: 7, sha256: sha }]);
    const plain = join(dir, "plain");
    await mkdir(plain);
    await writeFile(join(dir, "secret"), "s");
    await symlink(join(dir, "secret"), join(plain, "LICENSE"));
    await assert.rejects((await openLocalStore(plain)).list(), { code: "LINK_OUTSIDE" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
