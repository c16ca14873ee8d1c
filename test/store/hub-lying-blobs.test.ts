/**
 * A Hub that lies about what a commit holds: files read whole from a repo in place are checked against the tree
 * listing (a regular file's git blob id, an LFS file's sha256) and refused with one line (HUB_VERIFY) when the bytes
 * served are other bytes, of the same size or not; nothing is written. Ranges of a big file are not re-hashed.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { TruecastError } from "../../src/errors.js";
import { openStore } from "../../src/store/open-store.js";
import { checkWholeFile } from "../../src/store/listed-blob.js";
import { readWholeFile } from "../../src/store/store.js";
import { bf16Weights, safetensorsBytes } from "../support/build-model.js";
import { cli } from "../support/cli.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo } from "./hub-repo-fixture.js";

/** `refuse` for assert.rejects: HUB_VERIFY, one line, naming the file and the listed id. */
function verifyError(file: string, what: "git blob id" | "sha256") {
  return (e: unknown): boolean => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, "HUB_VERIFY", e.message);
    assert.match(e.message, new RegExp(`^hf://acme/\\S+@main/${file.replace(/\./g, "\\.")}: the Hub sent bytes whose ${what} is [0-9a-f]+.*, not the [0-9a-f]+ its file listing gives; they are not used`));
    assert.equal(e.message.includes("\n"), false);
    return true;
  };
}

test("git blob ids: the ones git itself gives (the double's listing and the check agree with git, not just with each other)", () => {
  // `git hash-object` of an empty file and of "hello\n".
  checkWholeFile({ algo: "git-sha1", oid: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", size: 0 }, "empty", new Uint8Array(0));
  checkWholeFile({ algo: "git-sha1", oid: "ce013625030ba8dba906f756967f9e9ca394464a", size: 6 }, "hello", Buffer.from("hello\n"));
  assert.throws(() => checkWholeFile({ algo: "git-sha1", oid: "ce013625030ba8dba906f756967f9e9ca394464a", size: 6 }, "hello", Buffer.from("hellO\n")), { code: "HUB_VERIFY" });
  assert.throws(
    () => checkWholeFile({ algo: "git-sha1", oid: "ce013625030ba8dba906f756967f9e9ca394464a", size: 6 }, "hello", Buffer.from("hello!\n")),
    { message: /^hello: the Hub sent bytes whose git blob id is [0-9a-f]{40} \(7 bytes, the listing says 6\), not the ce01/ },
  );
});

test("a config.json served with other bytes of the same size is refused by inspect, audit, diff and export; nothing is written", async () => {
  const d = await startHubDouble();
  const out = await mkdtemp(join(tmpdir(), "tc-lying-"));
  try {
    const files = repoFiles(1, 4, 16 * 1024);
    await seedRepo(d, "acme/lying", files);
    const config = Buffer.from(files["config.json"] ?? []);
    // The same length, another dtype: `"bfloat16"` → `"float16" ` (JSON allows the space).
    const lie = Buffer.from(config.toString().replace('"bfloat16"', '"float16" '));
    assert.equal(lie.length, config.length);
    assert.notDeepEqual(lie, config);
    d.state.tamper({ repo: "acme/lying", path: "config.json", kind: "bytes", bytes: lie });
    const env = await hubEnv(d);
    const line = /^truecast: hf:\/\/acme\/lying@main\/config\.json: the Hub sent bytes whose git blob id is [0-9a-f]{40}, not the [0-9a-f]{40} its file listing gives; they are not used .*\n$/;
    // diff exits as cmp does: 2 for trouble.
    for (const [argv, code] of [[["inspect", "hf://acme/lying"], 1], [["audit", "hf://acme/lying"], 1], [["diff", "hf://acme/lying", "hf://acme/lying"], 2]] as const) {
      const r = await cli([...argv], { env });
      assert.equal(r.code, code, `${argv[0]}: ${r.stdout}`);
      assert.match(r.stderr, line, argv[0]);
    }
    const dest = join(out, "exported");
    const r = await cli(["export", "hf://acme/lying", dest], { env });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, line);
    assert.deepEqual(await readdir(out), [], "no output folder, no staging folder");
  } finally {
    await d.stop();
    await rm(out, { recursive: true, force: true });
  }
});

test("a small file served with bytes of another size under the listed git blob id is refused", async () => {
  const d = await startHubDouble();
  try {
    const files = repoFiles(1, 4, 16 * 1024);
    await seedRepo(d, "acme/longer", files);
    const index = Buffer.from(files["model.safetensors.index.json"] ?? []);
    // The index with one more entry: the listing's size follows the bytes, its git blob id is the committed file's.
    const longer = Buffer.from(index.toString().replace('"weight_map": {', '"weight_map": {\n    "lm_head.weight": "model-00001-of-00001.safetensors",'));
    d.state.tamper({ repo: "acme/longer", path: "model.safetensors.index.json", kind: "bytes", bytes: longer });
    const store = await openStore("hf://acme/longer", { env: await hubEnv(d) });
    await assert.rejects(readWholeFile(store, "model.safetensors.index.json", 1 << 20), verifyError("model.safetensors.index.json", "git blob id"));
    // Files the Hub tells the truth about are read as before.
    assert.deepEqual(Buffer.from(await readWholeFile(store, "config.json", 1 << 20)), Buffer.from(files["config.json"] ?? []));
    await store.close();
  } finally {
    await d.stop();
  }
});

test("a small LFS file (read whole) whose stored object has a flipped byte is refused by its sha256", async () => {
  const d = await startHubDouble();
  try {
    const weights = safetensorsBytes([{ name: "w", dtype: "BF16", shape: [4096], data: bf16Weights(4096, 3) }]);
    await seedRepo(d, "acme/small-lfs", { "model.safetensors": weights, "config.json": Buffer.from('{"model_type": "llama", "torch_dtype": "bfloat16"}') });
    // A byte of tensor data, past the header: only a check of the whole file sees it.
    d.state.tamper({ repo: "acme/small-lfs", path: "model.safetensors", kind: "byte", offset: weights.length - 100 });
    const env = await hubEnv(d);
    const r = await cli(["inspect", "hf://acme/small-lfs"], { env });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^truecast: hf:\/\/acme\/small-lfs@main\/model\.safetensors: the Hub sent bytes whose sha256 is [0-9a-f]{64}, not the [0-9a-f]{64} its file listing gives; they are not used/);
    const store = await openStore("hf://acme/small-lfs", { env });
    const f = await store.open("model.safetensors");
    await assert.rejects(f.read(0, 8), verifyError("model.safetensors", "sha256"));
    await assert.rejects(async () => {
      for await (const _ of f.chunks(weights.length - 200, 200, 64)) void _;
    }, verifyError("model.safetensors", "sha256"));
    await f.close();
    await store.close();
  } finally {
    await d.stop();
  }
});

test("a big regular file read whole (read or chunks) is checked before its last chunk goes out; a range of it is not re-hashed", async () => {
  const d = await startHubDouble();
  try {
    // A tokenizer-sized regular file past the read-ahead block (the double makes files under 10 MiB regular).
    const big = Buffer.from(JSON.stringify({ vocab: Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`tok${i}`, i])) }));
    const blockSize = 64 * 1024;
    assert.ok(big.length > 4 * blockSize);
    await seedRepo(d, "acme/big-regular", { "tokenizer.json": big });
    const lie = Buffer.from(big);
    lie[lie.length - 3] = "9".charCodeAt(0) === lie[lie.length - 3] ? "8".charCodeAt(0) : "9".charCodeAt(0);
    d.state.tamper({ repo: "acme/big-regular", path: "tokenizer.json", kind: "bytes", bytes: lie });
    const store = await openStore("hf://acme/big-regular", { env: await hubEnv(d), blockSize });
    const f = await store.open("tokenizer.json");
    await assert.rejects(f.read(0, f.size), verifyError("tokenizer.json", "git blob id"));
    const got: number[] = [];
    await assert.rejects(async () => {
      for await (const c of f.chunks(0, f.size, blockSize)) got.push(c.byteLength);
    }, verifyError("tokenizer.json", "git blob id"));
    assert.equal(got.reduce((a, b) => a + b, 0), f.size - (f.size % blockSize || blockSize), "every chunk but the last went out");
    // A part of the file is what the Hub sends: only a whole file has an id to check against.
    assert.deepEqual(Buffer.from(await f.read(1000, 5000)), lie.subarray(1000, 6000));
    await f.close();
    await store.close();
  } finally {
    await d.stop();
  }
});
