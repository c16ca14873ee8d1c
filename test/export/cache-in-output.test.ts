/**
 * $TRUECAST_CACHE inside the export's output folder: the output is written under a staging name and renamed into
 * place at the end, so a digest-cache entry or a resume-journal entry written there first made that rename fail
 * ("written by another run"), the export exit 1 and a `.cache` folder stay behind. The cache is optional: such a run
 * does without it and succeeds, and nothing but the export's files is left in the output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { settledFixture } from "../support/settled-fixture.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv } from "../store/hub-repo-fixture.js";
import { writeModelFolder } from "../hub/model-folder.js";
import type { SourceFileDigest } from "../../src/export/source-digests.js";

const EXPORTED = ["README.md", "model.safetensors", "truecast-report.json"];

test("export with $TRUECAST_CACHE inside <out> (by its name, or through a link to <out>) succeeds without the digest cache, leaving only the export in <out>", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A committed fixture, old enough for its digest to be recorded.
    const source = await settledFixture("torch", "views.pt");
    const want: SourceFileDigest = { name: "views.pt", bytes: (await stat(source)).size, sha256: createHash("sha256").update(await readFile(source)).digest("hex"), role: "source" };
    await symlink(join(dir, "b"), join(dir, "b-link"));
    for (const [out, cache] of [["a", join(dir, "a", ".cache")], ["b", join(dir, "b-link", "cache")]] as const) {
      const r = await cli(["export", source, join(dir, out)], { env: { TRUECAST_CACHE: cache } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await readdir(join(dir, out))).sort(), EXPORTED, out);
      const report = JSON.parse(await readFile(join(dir, out, "truecast-report.json"), "utf8")) as { sourceFiles: SourceFileDigest[] };
      assert.deepEqual(report.sourceFiles, [want], out);
    }
  } finally {
    await cleanup();
  }
});

test("export --push --keep-local with $TRUECAST_CACHE inside <out> commits and keeps <out> with no resume journal in it", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await writeModelFolder(join(t.dir, "src"));
    const env = { ...(await hubEnv(d)), HF_TOKEN: "hf_write", TRUECAST_CACHE: join(t.dir, "out", ".cache") };
    const r = await cli(["export", "src", "out", "--push", "acme/kept", "--keep-local", "--endpoint", d.url], { cwd: t.dir, env });
    assert.equal(r.code, 0, r.stderr);
    const files = (await readdir(join(t.dir, "out"))).sort();
    assert.equal(files.includes(".cache"), false, files.join(", "));
    assert.ok(files.includes("model.safetensors"), files.join(", "));
    const repo = d.state.repos.get("acme/kept");
    assert.equal(repo?.commits.get(repo.refs.get("main") ?? "")?.files.has("model.safetensors"), true);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
