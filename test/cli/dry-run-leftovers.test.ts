/**
 * `export --dry-run` must not write or delete anything in any mode (local, hf://, --push with and without <out>),
 * not even the clean-up a real run does first: folders that killed runs left (`.<out>.truecast-<pid>-…` beside
 * <out>, `truecast-push-<pid>-…` under TMPDIR) and a resume journal in TRUECAST_CACHE / XDG_CACHE_HOME stay exactly
 * as they were, and the Hub double sees GET and HEAD requests only. Runs the CLI in a child process (its own TMPDIR).
 */
import assert from "node:assert/strict";
import { lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";
import { hostTag } from "../../src/export/stale-staging.js";
import { cliChild } from "../support/cli-child.js";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { repoFiles } from "../store/hub-repo-fixture.js";

/** Every path under `dir` with its type, size and modification time (TMPDIR's own time left out: see dry-run.test.ts). */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(at: string): Promise<void> {
    for (const name of (await readdir(at)).sort()) {
      const path = join(at, name);
      const s = await lstat(path);
      out.push(`${relative(dir, path)} ${s.isDirectory() ? "dir" : s.size} ${relative(dir, path) === "tmp" ? "" : s.mtimeMs}`);
      if (s.isDirectory()) await walk(path);
    }
  }
  await walk(dir);
  return out;
}

test("export --dry-run in every mode leaves dead runs' folders, the journal and the caches as they were; GETs only", async () => {
  const d = await startHubDouble();
  const t = await tempDir("truecast-dry-leftovers-");
  try {
    await d.state.seed("acme/src", repoFiles(2, 2, 1024));
    const work = join(t.dir, "work");
    const tmp = join(t.dir, "tmp");
    const tag = hostTag();
    // What killed runs left: a staging folder beside <out>, a push folder under TMPDIR, a journal entry.
    for (const dir of [join(work, `.out.truecast-999999999-${tag}0badc0de`, "x"), join(tmp, `truecast-push-999999999-${tag}-aB3dE9`, "x"), join(t.dir, "cache", "resume", "k"), join(t.dir, "xdg"), join(t.dir, "hf-home")]) {
      await mkdir(dir, { recursive: true });
    }
    await writeFile(join(t.dir, "cache", "resume", "k", "model.safetensors.json"), "{}");
    const local = join(work, "src");
    await mkdir(local);
    for (const [name, bytes] of Object.entries(repoFiles(2, 2, 1024))) {
      await mkdir(join(local, name, ".."), { recursive: true });
      await writeFile(join(local, name), bytes);
    }
    const env = { TMPDIR: tmp, HF_HOME: join(t.dir, "hf-home"), TRUECAST_CACHE: join(t.dir, "cache"), XDG_CACHE_HOME: join(t.dir, "xdg"), HF_TOKEN: "hf_write", HF_ENDPOINT: d.url };
    const modes = [
      ["export", "src", "out"],
      ["export", "src", "--push", "acme/dst"],
      ["export", "src", "out", "--push", "acme/dst", "--keep-local"],
      ["export", "hf://acme/src", "out"],
      ["export", "hf://acme/src", "--push", "acme/dst", "--create-pr", "--replace-weights"],
      ["export", "hf://acme/src", "--push", "acme/src", "--create-pr", "--replace-weights"],
    ];
    for (const args of modes) {
      const before = await snapshot(t.dir);
      const r = await cliChild([...args, "--dry-run", "--max-shard-size", "5KB"], { cwd: work, env });
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.deepEqual(await snapshot(t.dir), before, `${args.join(" ")} --dry-run: nothing written or removed`);
    }
    assert.deepEqual(d.requests.filter((q) => q.method !== "GET" && q.method !== "HEAD").map((q) => `${q.method} ${q.path}`), []);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
