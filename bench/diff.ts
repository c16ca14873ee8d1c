/**
 * Diff benchmark (issue 11): `truecast diff` of two bit-identical local models against `cmp` of the same bytes
 * (each shard of a against its copy in b), alternating, median of the runs, peak RSS. Prints a Markdown row.
 *
 *   npm run build && node dist/bench/diff.js [--dir /tmp/truecast-bench-diff] [--gb 2] [--runs 3] [--keep]
 *
 * Target: ≤ 1.5× cmp for bit-identical models, with memory that does not grow with the model.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../test/helpers.js";
import { machine, mb, medianRun, timed, writeBenchModel, type Timed } from "./lib.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-bench-diff" },
    gb: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    keep: { type: "boolean", default: false },
  },
});
const dir = values.dir;
const runs = Number(values.runs);
const gb = Number(values.gb);
const bin = join(repoRoot(), "dist", "src", "cli", "main.js");

console.log(`machine: ${machine()}; ${new Date().toISOString()}`);
const a = join(dir, "a");
const b = join(dir, "b");
console.log(`writing a ${gb} GB bfloat16 model (4096×4096 tensors, 500 MB shards) to ${a}, and a copy of it to ${b}`);
const model = await writeBenchModel({ dir: a, dtype: "BF16", totalBytes: gb * 1e9, shardBytes: 500e6 });
await rm(b, { recursive: true, force: true });
execFileSync("cp", ["-r", a, b]);

const shards = readdirSync(a).filter((n) => n.endsWith(".safetensors")).sort();
// cmp stops at the first difference and exits 1; the shards are copies, so each runs to its end.
const cmpScript = shards.map((s) => `cmp ${JSON.stringify(join(a, s))} ${JSON.stringify(join(b, s))} || exit 1`).join("\n");
const ours = (): Promise<Timed> => timed("truecast diff", process.execPath, [bin, "diff", a, b, "--quiet"]);
const cmp = (): Promise<Timed> => timed("cmp", "sh", ["-c", cmpScript]);

const oursRuns: Timed[] = [];
const cmpRuns: Timed[] = [];
for (let i = 0; i < runs; i++) {
  oursRuns.push(await ours());
  cmpRuns.push(await cmp());
}
const o = medianRun(oursRuns);
const c = medianRun(cmpRuns);
console.log(`runs (s): truecast ${oursRuns.map((r) => r.seconds.toFixed(2)).join(", ")}; cmp ${cmpRuns.map((r) => r.seconds.toFixed(2)).join(", ")}`);
console.log("| run | truecast | peak RSS | reference | ref. peak RSS | ratio | target |");
console.log("|---|---|---|---|---|---|---|");
console.log(
  `| diff of two bit-identical ${(model.bytes / 1e9).toFixed(1)} GB bf16 models (${model.tensors} tensors, ${shards.length} shards each), median of ${runs} | ${o.seconds.toFixed(2)} s | ${mb(o.peakRss)} | cmp ${c.seconds.toFixed(2)} s | ${mb(c.peakRss)} | ${(o.seconds / c.seconds).toFixed(2)}× | ≤ 1.5× cmp, flat memory |`,
);
if (!values.keep) await rm(dir, { recursive: true, force: true });
