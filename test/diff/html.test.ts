/** `truecast diff --html FILE`: the page's data is the diff's; existing files are refused before any work unless --force. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";

interface PageData {
  kind: string;
  findings: { severity: number; code: string; message: string; tensors: string[] }[];
  verdict: { severity: number; text: string };
  rows: { count: number; name: string[]; statuses: string[]; status: number[]; metricNames: string[] };
}

function pageData(html: string): PageData {
  const m = /<script type="application\/json" id="[^"]+">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m?.[1], "the page holds its data");
  return JSON.parse(m[1]) as PageData;
}

test("--html writes the diff as a page: the verdict on top, one row per tensor with its status", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const r = await cli(["diff", fixture("diff", "bf16"), fixture("diff", "f16-broken"), "--html", "report.html"], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`\\nreport page: ${join(dir, "report.html").replace(/[.]/g, "\\.")}\\ncompared 21 tensors`));
    const page = pageData(await readFile(join(dir, "report.html"), "utf8"));
    assert.equal(page.kind, "diff");
    assert.equal(page.verdict.text, "b is a rounded to float16: 20 values overflowed to inf (damaged), in 3 of 21 tensors");
    assert.equal(page.verdict.severity, 3);
    assert.equal(page.rows.count, 21);
    assert.deepEqual(page.findings.map((f) => [f.code, f.message, f.tensors.length]), [["OVERFLOW_TO_INF", "20 finite values of a are ±inf in b, in 3 tensors", 3]]);
    const status = (name: string) => page.rows.statuses[page.rows.status[page.rows.name.indexOf(name)] ?? -1];
    assert.equal(status("model.embed_tokens.weight"), "overflow");
    assert.equal(status("model.layers.0.self_attn.q_proj.weight"), "exact");
    assert.ok(page.rows.metricNames.includes("toInfinity") && page.rows.metricNames.includes("maxUlp"));
    assert.deepEqual((await readdir(dir)).sort(), ["report.html"]); // no temporary file left
  } finally {
    await cleanup();
  }
});

test("an existing --html file is refused before comparing (exit 2, untouched); --force replaces it; a failed diff writes none", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, "old.html"), "mine");
    const refused = await cli(["diff", fixture("diff", "bf16"), fixture("diff", "bf16"), "--html", "old.html"], { cwd: dir });
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, "");
    assert.equal(refused.stderr, "truecast: old.html already exists; choose another file or pass --force to replace it\n");
    assert.equal(await readFile(join(dir, "old.html"), "utf8"), "mine");
    await mkdir(join(dir, "folder"));
    assert.equal((await cli(["diff", fixture("diff", "bf16"), fixture("diff", "bf16"), "--html", "folder", "--force"], { cwd: dir })).stderr, "truecast: folder is a folder; choose a file path for the report page\n");
    const forced = await cli(["diff", fixture("diff", "bf16"), fixture("diff", "bf16"), "--html", "old.html", "--force"], { cwd: dir });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(pageData(await readFile(join(dir, "old.html"), "utf8")).verdict.text, "b is a bit-exact copy of a");
    const failed = await cli(["diff", fixture("diff", "bf16"), "missing", "--html", "new.html"], { cwd: dir });
    assert.equal(failed.code, 2);
    assert.deepEqual((await readdir(dir)).sort(), ["folder", "old.html"]);
    const lone = await cli(["diff", "a", "b", "--force"], { cwd: dir });
    assert.equal(lone.code, 2);
    assert.equal(lone.stderr, "truecast: --force goes with --html (it lets --html replace an existing file); see `truecast diff --help`\n");
  } finally {
    await cleanup();
  }
});

test("diffPage: one row per compared, missing and misshapen tensor, the same page for the same report", async () => {
  const { diff } = await import("../../src/diff/diff.js");
  const { diffPage } = await import("../../src/diff/page.js");
  const { writeSafetensors, f32 } = await import("../support/build-model.js");
  const { dir, cleanup } = await tempDir();
  try {
    await writeSafetensors(join(dir, "a.safetensors"), [
      { name: "model.layers.3.self_attn.q_proj.weight", dtype: "F32", shape: [1, 2], data: f32([1, 2]) },
      { name: "gone", dtype: "F32", shape: [1], data: f32([1]) },
      { name: "w", dtype: "F32", shape: [2], data: f32([1, 2]) },
    ]);
    await writeSafetensors(join(dir, "b.safetensors"), [
      { name: "model.layers.3.self_attn.q_proj.weight", dtype: "F32", shape: [1, 2], data: f32([1, 3]) },
      { name: "w", dtype: "F32", shape: [1, 2], data: f32([1, 2]) },
    ]);
    const report = await diff({ a: join(dir, "a.safetensors"), b: join(dir, "b.safetensors") });
    const page = diffPage(report, { generator: "truecast 0.0.0", date: "2026-12-02T00:00:00.000Z" });
    assert.deepEqual(diffPage(report, { generator: "truecast 0.0.0", date: "2026-12-02T00:00:00.000Z" }), page);
    assert.deepEqual(page.tensors.map((t) => [t.name, t.layer, t.group, t.status, t.severity, t.metrics["elementsChanged"]]), [
      ["model.layers.3.self_attn.q_proj.weight", 3, "q", "changed", "warning", 1],
      ["gone", null, "other", "only in a", "warning", null],
      ["w", null, "other", "shape [2] → [1, 2]", "error", null],
    ]);
    assert.deepEqual(page.findings.map((f) => f.code), ["ONLY_IN_A", "SHAPE_MISMATCH"]);
    assert.equal(page.verdict.text, "b = a with a LoRA merge on 1 tensor (q projections changed; every other tensor bit-identical); also 1 tensor only in a (gone), 1 shape mismatch (w)");
  } finally {
    await cleanup();
  }
});
