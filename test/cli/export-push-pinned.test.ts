/**
 * `export hf://… --push`: the source revision is pinned to one commit, and every read of the run is at that commit,
 * the audit of the source for the commit's description included. A branch pushed to right after the export pinned
 * it (attacked here by moving `main` as soon as the pin was answered) must not make the description describe
 * another commit than the one exported.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportCommand } from "../../src/cli/export-command.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles } from "../store/hub-repo-fixture.js";

test("export hf://…@main --push: the audit of the source reads the commit the export pinned, not where main moved", async () => {
  const d = await startHubDouble();
  const root = await mkdtemp(join(tmpdir(), "tc-pinned-"));
  try {
    const files = repoFiles(1, 2, 1024);
    const repo = await d.state.seed("acme/src", files);
    const pinned = repo.refs.get("main") ?? "";
    await d.state.seed("acme/src", { ...files, "config.json": Buffer.from(JSON.stringify({ model_type: "llama", torch_dtype: "float16" })) });
    const moved = repo.refs.get("main") ?? "";
    repo.refs.set("main", pinned);
    let pins = 0;
    // main moves to the next commit as soon as the first pin of main was answered (a push in between).
    d.faults.add({
      match: (r) => {
        if (r.server === "hub" && r.path.startsWith("/api/models/acme/src/revision/main")) pins++;
        else if (pins > 0) repo.refs.set("main", moved);
        return false;
      },
      kind: "status",
    });
    const env = await hubEnv(d, { HF_TOKEN: "hf_write", TMPDIR: root });
    const code = await exportCommand(["hf://acme/src@main", "--push", "acme/out", "--json"], {
      stdout: { write: () => true }, stderr: { write: () => true, isTTY: false }, env, cwd: root,
    });
    assert.equal(code, 0);
    const reads = d.requests.filter((r) => r.server === "hub" && r.path.startsWith("/acme/src/resolve/")).map((r) => r.path);
    assert.ok(reads.length > 0);
    assert.deepEqual(reads.filter((p) => !p.startsWith(`/acme/src/resolve/${pinned}/`)), [], "every read at the pinned commit");
    assert.equal(pins, 1, "main is pinned once");
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});
