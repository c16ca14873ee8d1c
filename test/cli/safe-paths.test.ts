/**
 * `--force` never deletes a user's files through a symbolic link, and symbolic links never carry a file from outside
 * the model's folder into an export or onto the Hub. Every layout is built here, at test time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";
import { startHubDouble } from "../support/hub-double.js";

const SECRET = "hf_SECRET_token_do_not_ship_0123456789";

/** A model folder with the things a user keeps beside it: an optimizer state, notes, a git folder. */
async function userFolder(dir: string): Promise<void> {
  await writeModelFolder(dir, {
    tensors: [{ name: "a.weight", dtype: "BF16", shape: [16, 8], data: bf16Weights(128, 4) }],
    config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
    files: { "tokenizer.json": '{"model":{}}', "optimizer.pt": "not exported" },
  });
  await mkdir(join(dir, "notes"));
  await writeFile(join(dir, "notes", "run.md"), "lr 1e-4\n");
  await mkdir(join(dir, ".git"));
  await writeFile(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
}

/** Every entry under `dir` (links not followed): file bytes, link targets, folders. */
async function snapshot(dir: string, prefix = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const s = await lstat(path);
    const key = prefix + name;
    if (s.isSymbolicLink()) out.set(key, `link:${await readlink(path)}`);
    else if (s.isDirectory()) {
      out.set(key, "dir");
      for (const [k, v] of await snapshot(path, key + "/")) out.set(k, v);
    } else out.set(key, (await readFile(path)).toString("base64"));
  }
  return out;
}

/** No staging folder or output was left in `dir` beyond `expected`. */
async function assertOnly(dir: string, expected: string[]): Promise<void> {
  assert.deepEqual((await readdir(dir)).sort(), [...expected].sort());
}

test("--force through a symbolic link to the source is refused and every file of the source stays", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const v = join(dir, "v");
    await userFolder(v);
    await symlink("v", join(dir, "vlink"));
    await symlink(".", join(dir, "here"));
    const before = await snapshot(v);
    for (const argv of [
      ["export", "vlink", "v", "--force"],
      ["export", "v", "here/v", "--force"],
      ["export", "v", "vlink", "--force"],
      ["export", "here/v", "v/notes", "--force"],
    ]) {
      const r = await cli(argv, { cwd: dir });
      assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^truecast: .*(is the source|inside the output).*nothing was written or deleted; choose an output folder outside it\n$/, argv.join(" "));
      assert.deepEqual(await snapshot(v), before, argv.join(" "));
      await assertOnly(dir, ["v", "vlink", "here"]);
    }
  } finally {
    await cleanup();
  }
});

test("--force never replaces the --base folder or the folder holding --model-card", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await userFolder(join(dir, "m"));
    await userFolder(join(dir, "base"));
    await mkdir(join(dir, "cards"));
    await writeFile(join(dir, "cards", "README.md"), "# my card\n");
    await writeFile(join(dir, "cards", "other-card.md"), "# another\n");
    const base = await snapshot(join(dir, "base"));
    const cards = await snapshot(join(dir, "cards"));
    const viaBase = await cli(["export", "m", "base", "--base", "base", "--force"], { cwd: dir });
    assert.equal(viaBase.code, 1, viaBase.stderr);
    assert.match(viaBase.stderr, /^truecast: the output .*base is the base model folder .*base or inside it/);
    const viaCard = await cli(["export", "m", "cards", "--model-card", "cards/README.md", "--force"], { cwd: dir });
    assert.equal(viaCard.code, 1, viaCard.stderr);
    assert.match(viaCard.stderr, /^truecast: the model card .*README\.md is inside the output .*cards, which would delete it/);
    assert.deepEqual(await snapshot(join(dir, "base")), base);
    assert.deepEqual(await snapshot(join(dir, "cards")), cards);
    await assertOnly(dir, ["m", "base", "cards"]);
  } finally {
    await cleanup();
  }
});

test("a carried file that links outside the source is refused by name and never reaches the output", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await mkdir(join(dir, "home", ".cache", "huggingface"), { recursive: true });
    const token = join(dir, "home", ".cache", "huggingface", "token");
    await writeFile(token, SECRET);
    for (const [name, target] of [["special_tokens_map.json", token], ["LICENSE", "../home/.cache/huggingface/token"]] as const) {
      const m = join(dir, `m-${name}`);
      await userFolder(m);
      await symlink(target, join(m, name));
      const r = await cli(["export", `m-${name}`, "out"], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.split("\n").length, 2, "one line");
      assert.match(r.stderr, new RegExp(`^truecast: .*${name.replace(".", "\\.")} is a link to .*home/\\.cache/huggingface/token, outside .*m-${name.replace(".", "\\.")}; .*copy the file into the folder if you mean to ship it\\n$`));
      assert.equal(existsSync(join(dir, "out")), false);
    }
    await assertOnly(dir, ["home", "m-LICENSE", "m-special_tokens_map.json"]);
  } finally {
    await cleanup();
  }
});

test("links inside the folder, a Hugging Face cache snapshot and weights linked from elsewhere still export", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // Cache layout: snapshot entries are links into ../../blobs/.
    const repo = join(dir, "hub", "models--acme--tiny");
    await userFolder(join(dir, "plain"));
    await mkdir(join(repo, "blobs"), { recursive: true });
    await mkdir(join(repo, "snapshots", "abc123"), { recursive: true });
    for (const name of ["model.safetensors", "config.json", "tokenizer.json"]) {
      await writeFile(join(repo, "blobs", `blob-${name}`), await readFile(join(dir, "plain", name)));
      await symlink(`../../blobs/blob-${name}`, join(repo, "snapshots", "abc123", name));
    }
    const r = await cli(["export", "hub/models--acme--tiny/snapshots/abc123", "out"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(join(dir, "out", "tokenizer.json")), await readFile(join(dir, "plain", "tokenizer.json")));
    // A plain folder whose weights live elsewhere, and whose tokenizer is a link to a file beside it.
    await mkdir(join(dir, "linked"));
    await symlink("../plain/model.safetensors", join(dir, "linked", "model.safetensors"));
    await writeFile(join(dir, "linked", "tokenizer-v2.json"), '{"v":2}');
    await symlink("tokenizer-v2.json", join(dir, "linked", "tokenizer.json"));
    const l = await cli(["export", "linked", "out2"], { cwd: dir });
    assert.equal(l.code, 0, l.stderr);
    assert.equal(await readFile(join(dir, "out2", "tokenizer.json"), "utf8"), '{"v":2}');
  } finally {
    await cleanup();
  }
});

test("publish and export --push refuse a folder with a link to a secret and upload nothing", async () => {
  const d = await startHubDouble();
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, "secret"), SECRET);
    await userFolder(join(dir, "m"));
    await rm(join(dir, "m", "optimizer.pt"));
    await rm(join(dir, "m", "notes"), { recursive: true });
    await symlink("../secret", join(dir, "m", "LICENSE"));
    const env = { HF_TOKEN: "hf_write" };
    const pub = await cli(["publish", "m", "acme/leak", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(pub.code, 1, pub.stderr);
    assert.match(pub.stderr, /^truecast: .*m\/LICENSE is a link to .*secret, outside .*m; /);
    const push = await cli(["export", "m", "out", "--push", "acme/leak", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(push.code, 1, push.stderr);
    assert.match(push.stderr, /^truecast: .*m\/LICENSE is a link to .*secret, outside/);
    const sent = d.requests.filter((q) => q.method !== "GET");
    assert.ok(!sent.some((q) => /\/commit\//.test(q.path) || /upload|lfs/i.test(q.path)), JSON.stringify(sent.map((q) => q.path)));
  } finally {
    await d.stop();
    await cleanup();
  }
});

test("an H2O experiment whose config.json links outside it is refused, even where truecast rewrites its vocab_size", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const expected = JSON.parse(await readFile(fixture("h2o", "expected.json"), "utf8")) as { commit: string };
    const env = { HF_HUB_CACHE: fixture("h2o", "hf-cache"), HF_HUB_OFFLINE: "1" };
    const exp = join(dir, "exp");
    await mkdir(exp);
    for (const name of await readdir(fixture("h2o", "resized"))) await writeFile(join(exp, name), await readFile(fixture("h2o", "resized", name)));
    // Without the link the experiment exports (config.json from the cache, vocab_size corrected).
    assert.equal((await cli(["export", "exp", "ok", "--quiet"], { cwd: dir, env })).code, 0);
    await writeFile(join(dir, "elsewhere.json"), await readFile(fixture("h2o", "hf-cache", "models--truecast-test--tiny-llama", "snapshots", expected.commit, "config.json")));
    await symlink("../elsewhere.json", join(exp, "config.json"));
    const r = await cli(["export", "exp", "out"], { cwd: dir, env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^truecast: .*exp\/config\.json is a link to .*elsewhere\.json, outside .*exp; /);
    assert.equal(existsSync(join(dir, "out")), false);
  } finally {
    await cleanup();
  }
});
