/**
 * The resume journal of `export --push` (resume-journal.ts): entries written atomically, read back only for the
 * fingerprint that made them, and damaged ones ignored with a warning.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dropJournal, entryPath, journalDir, readJournal, recordShard, truecastCacheDir } from "../../src/hub/resume-journal.js";
import { tempDir } from "../helpers.js";

const FP = "f".repeat(64);
const entry = (file: string) => ({ file, size: 1234, sha256: "a".repeat(64), record: { digests: ["xxh3-64:0000000000000001"], casts: [null], verified: { tensors: 1, bytes: 8 } } });

test("the cache folder comes from TRUECAST_CACHE, else XDG_CACHE_HOME; the journal is per endpoint, repo, revision and PR mode", () => {
  assert.equal(truecastCacheDir({ TRUECAST_CACHE: "/c", XDG_CACHE_HOME: "/x" }), "/c");
  assert.equal(truecastCacheDir({ XDG_CACHE_HOME: "/x" }), join("/x", "truecast"));
  const t = { endpoint: "https://huggingface.co", repoId: "acme/m", revision: "main", createPr: false };
  const dir = journalDir({ TRUECAST_CACHE: "/c" }, t);
  assert.match(dir, /^\/c\/resume\/[0-9a-f]{64}$/);
  assert.equal(journalDir({ TRUECAST_CACHE: "/c" }, { ...t }), dir);
  for (const other of [{ ...t, revision: "dev" }, { ...t, createPr: true }, { ...t, repoId: "acme/n" }, { ...t, endpoint: "http://127.0.0.1:1" }]) {
    assert.notEqual(journalDir({ TRUECAST_CACHE: "/c" }, other), dir);
  }
});

test("entries are read back for their fingerprint only; damaged ones are ignored with one warning each", async () => {
  const t = await tempDir();
  try {
    const dir = join(t.dir, "j");
    const warnings: string[] = [];
    const warn = (l: string) => warnings.push(l);
    assert.equal((await readJournal(dir, FP, warn)).size, 0, "no folder: an empty journal");
    await recordShard(dir, FP, entry("model-00001-of-00003.safetensors"));
    await recordShard(dir, FP, entry("model-00002-of-00003.safetensors"));
    await recordShard(dir, "e".repeat(64), entry("model-00003-of-00003.safetensors"));
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith(".")), [], "no temp file left");
    const got = await readJournal(dir, FP, warn);
    assert.deepEqual([...got.keys()].sort(), ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors"]);
    assert.deepEqual(got.get("model-00001-of-00003.safetensors"), entry("model-00001-of-00003.safetensors"));
    assert.deepEqual(warnings, [], "another fingerprint is not a warning");

    // One byte of the record changed (valid JSON still): the checksum catches it. Another file cut short, one not ours.
    const one = entryPath(dir, "model-00001-of-00003.safetensors");
    await writeFile(one, (await readFile(one, "utf8")).replace("0000000000000001", "0000000000000002"));
    const two = entryPath(dir, "model-00002-of-00003.safetensors");
    await writeFile(two, (await readFile(two, "utf8")).slice(0, 30));
    await writeFile(join(dir, "stray.json"), '{"hello": 1}');
    assert.equal((await readJournal(dir, FP, warn)).size, 0);
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.match(warnings.join("\n"), /model-00001-of-00003\.safetensors\.json: its checksum does not match its content \(damaged\); that shard is produced again/);
    assert.match(warnings.join("\n"), /model-00002-of-00003\.safetensors\.json: it is not JSON \(damaged or cut short\)/);
    assert.match(warnings.join("\n"), /stray\.json: it is not a truecast resume entry/);
    await dropJournal(dir);
    assert.equal((await readJournal(dir, FP, warn)).size, 0);
  } finally {
    await t.cleanup();
  }
});
