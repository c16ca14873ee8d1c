/**
 * `inspect` and `diff` on Hub repos read in place (the double): inspect from headers alone, diff of a remote repo
 * against a local copy of its files and against another remote repo, and `export hf://…` giving the same files as
 * an export of a local copy.
 */
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { test } from "node:test";
import { cli } from "../support/cli.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo, sha256 } from "./hub-repo-fixture.js";

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

    // export from the Hub in place: the same files as an export of the local copy, and the source files listed
    // with the repo's LFS SHA-256 (nothing hashed locally, no local path).
    const remoteOut = join(local, "..", `${basename(local)}-remote-out`);
    const localOut = join(local, "..", `${basename(local)}-local-out`);
    try {
      const fromHub = await cli(["export", "hf://acme/three", remoteOut, "--json"], { env });
      assert.equal(fromHub.code, 0, fromHub.stderr);
      const fromDisk = await cli(["export", local, localOut, "--json"], { env });
      assert.equal(fromDisk.code, 0, fromDisk.stderr);
      const shardNames = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"];
      const written = (await readdir(remoteOut)).sort();
      assert.deepEqual(written, (await readdir(localOut)).sort());
      assert.ok(written.includes("model.safetensors") && written.includes("config.json"), written.join(", "));
      // Everything but the card and the report (which name their source) is byte for byte the local export's.
      for (const name of written.filter((n) => n !== "README.md" && n !== "truecast-report.json")) {
        assert.ok((await readFile(join(remoteOut, name))).equals(await readFile(join(localOut, name))), name);
      }
      const r = JSON.parse(fromHub.stdout) as { sourceFiles: { name: string; bytes: number; sha256: string; role: string }[]; bitExact: number };
      assert.deepEqual(r.sourceFiles, shardNames.map((name) => ({ name, bytes: files[name]?.byteLength, sha256: sha256(files[name] ?? new Uint8Array()), role: "source" })));
      const card = await readFile(join(remoteOut, "README.md"), "utf8");
      assert.match(card, /hf:\/\/acme\/three/);
      assert.doesNotMatch(card + (await readFile(join(remoteOut, "truecast-report.json"), "utf8")), new RegExp(tmpdir().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    } finally {
      await rm(remoteOut, { recursive: true, force: true });
      await rm(localOut, { recursive: true, force: true });
    }
  } finally {
    await d.stop();
    await rm(local, { recursive: true, force: true });
  }
});
