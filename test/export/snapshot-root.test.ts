/**
 * A snapshot of the Hugging Face cache may link into its repository's `blobs/`; a folder only spelled like one
 * (`models--x` being a link to a home folder) must not widen what its links may reach.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkCarriedPath } from "../../src/util/real-path.js";
import { tempDir } from "../helpers.js";

test("a real cache snapshot's links into blobs/ are carried; a folder spelled models--x/snapshots/y through a link is not widened", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const repo = join(dir, "hub", "models--org--name");
    await mkdir(join(repo, "blobs"), { recursive: true });
    await mkdir(join(repo, "snapshots", "abc"), { recursive: true });
    await writeFile(join(repo, "blobs", "0123"), "{}\n");
    await symlink(join("..", "..", "blobs", "0123"), join(repo, "snapshots", "abc", "tokenizer.json"));
    assert.equal(await checkCarriedPath(join(repo, "snapshots", "abc", "tokenizer.json")), join(repo, "blobs", "0123"));

    // A home folder with a secret and a model under snapshots/, reached through a link named like a cache repo.
    const home = join(dir, "home");
    await mkdir(join(home, ".cache"), { recursive: true });
    await mkdir(join(home, "snapshots", "c"), { recursive: true });
    await writeFile(join(home, ".cache", "token"), "hf_SECRET\n");
    await symlink(join("..", "..", ".cache", "token"), join(home, "snapshots", "c", "tokenizer.json"));
    await symlink(home, join(dir, "models--a--b"));
    const spelled = join(dir, "models--a--b", "snapshots", "c", "tokenizer.json");
    await assert.rejects(checkCarriedPath(spelled), (e: NodeJS.ErrnoException) => e.code === "LINK_OUTSIDE" && e.message.includes("token"));
  } finally {
    await cleanup();
  }
});
