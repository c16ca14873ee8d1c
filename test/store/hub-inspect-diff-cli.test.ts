/**
 * `inspect` and `diff` on Hub repos read in place (the double): inspect from headers alone, diff of a remote repo
 * against a local copy of its files and against another remote repo, and `export hf://…` refused with one line.
 */
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { cli } from "../support/cli.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo } from "./hub-repo-fixture.js";

test("inspect hf://… reads headers only; diff pairs a remote repo with a local copy and with another repo", async () => {
  const d = await startHubDouble();
  const local = await mkdtemp(join(tmpdir(), "tc-hub-diff-"));
  try {
    const files = repoFiles(3, 4, 64 * 1024);
    await seedRepo(d, "acme/three", files);
    // The same repo with one bit flipped in the last tensor of the first shard (its file's last byte).
    const first = "model-00001-of-00003.safetensors";
    const flipped = Uint8Array.from(files[first] ?? []);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    await seedRepo(d, "acme/other", { ...files, [first]: flipped });
    for (const [name, bytes] of Object.entries(files)) {
      await mkdir(dirname(join(local, name)), { recursive: true });
      await writeFile(join(local, name), bytes);
    }
    const env = await hubEnv(d);

    const inspected = await cli(["inspect", "hf://acme/three", "--json"], { env });
    assert.equal(inspected.code, 0, inspected.stderr);
    const report = JSON.parse(inspected.stdout) as { tensorCount: number; shards: { file: string; tensors: number }[]; config: { matches: boolean } | null; path: string };
    assert.equal(report.tensorCount, 12);
    assert.deepEqual(report.shards.map((s) => [s.file, s.tensors]), [1, 2, 3].map((i) => [`model-0000${i}-of-00003.safetensors`, 4]));
    assert.equal(report.config?.matches, true);
    // Headers only: one ranged read per shard (plus config.json, the index, README.md), never a shard's data.
    const shardReads = d.requests.filter((r) => r.path.includes("/resolve/") && r.path.endsWith(".safetensors"));
    assert.equal(shardReads.length, 3);
    const human = await cli(["inspect", "hf://acme/three"], { env });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /hf:\/\/acme\/three/);

    const same = await cli(["diff", "hf://acme/three", local], { env });
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /verdict: b is a bit-exact copy of a/);
    const other = await cli(["diff", "hf://acme/three", "hf://acme/other"], { env });
    assert.equal(other.code, 1, other.stderr);
    assert.match(other.stdout, /model\.layers\.0\.w3\.weight/);
    assert.match(other.stdout, /verdict: b differs from a in 1 tensor/);

    const refused = await cli(["export", "hf://acme/three", join(local, "out")], { env });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^truecast: export cannot read source hf:\/\/acme\/three from the Hub in place yet/);
    assert.equal(refused.stderr.trim().split("\n").length, 1);
  } finally {
    await d.stop();
    await rm(local, { recursive: true, force: true });
  }
});
