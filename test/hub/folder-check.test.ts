import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkFolder, HUB_MAX_FILE_BYTES } from "../../src/hub/folder-check.js";
import { listFolderFiles } from "../../src/hub/folder-files.js";
import { tempDir } from "../helpers.js";
import { writeModelFolder } from "./model-folder.js";

async function withModel(fn: (dir: string) => Promise<void>): Promise<void> {
  const t = await tempDir();
  try {
    await writeModelFolder(t.dir);
    await fn(t.dir);
  } finally {
    await t.cleanup();
  }
}

test("a consistent folder passes: hidden files skipped, dominant dtype by bytes", async () => {
  await withModel(async (dir) => {
    const files = await listFolderFiles(dir);
    assert.ok(files.every((f) => !f.pathInRepo.split("/").some((p) => p.startsWith("."))));
    const check = await checkFolder(files);
    assert.deepEqual(check.problems, []);
    assert.equal(check.dtype, "BF16");
    assert.deepEqual([...check.headers.keys()], ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
  });
});

test("the index must name every tensor where it is, with the right total size", async () => {
  await withModel(async (dir) => {
    const path = join(dir, "model.safetensors.index.json");
    const index = JSON.parse(await readFile(path, "utf8")) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    index.weight_map["lm_head.weight"] = "model-00001-of-00002.safetensors";
    index.metadata.total_size += 2;
    await writeFile(path, JSON.stringify(index));
    const { problems } = await checkFolder(await listFolderFiles(dir));
    assert.ok(problems.some((p) => /tensor lm_head\.weight is in model-00002-of-00002\.safetensors but the index says model-00001/.test(p)), problems.join("\n"));
    assert.ok(problems.some((p) => /tensor lm_head\.weight is not in model-00001-of-00002\.safetensors/.test(p)));
    assert.ok(problems.some((p) => /metadata\.total_size is \d+ but the shards hold \d+ bytes/.test(p)));
  });
});

test("a file over the Hub's 50 GB limit is a problem", async () => {
  await withModel(async (dir) => {
    const files = await listFolderFiles(dir);
    const big = files.map((f) => (f.pathInRepo === "tokenizer.json" ? { ...f, size: HUB_MAX_FILE_BYTES + 1 } : f));
    const { problems } = await checkFolder(big);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /tokenizer\.json: 50000000001 bytes is over the Hub's limit of 50 GB/);
  });
});

test("an empty folder or a missing one is refused", async () => {
  const t = await tempDir();
  try {
    await writeFile(join(t.dir, ".only-hidden"), "x");
    await assert.rejects(listFolderFiles(t.dir), { code: "PUBLISH_REFUSED" });
    await assert.rejects(listFolderFiles(join(t.dir, "nope")), { code: "NOT_FOUND" });
  } finally {
    await t.cleanup();
  }
});
