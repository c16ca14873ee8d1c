/**
 * Many-tensors benchmark (issue 9 item 5): one safetensors file of a million one-element tensors named as a
 * mixture-of-experts model names them (`layers.N.experts.M.w1.weight`, a ~95 MB header), through `inspect`,
 * `export` (bit-exact copy) and `export --dtype bfloat16` from float32. Prints wall time and peak RSS (GNU time)
 * of each, against the export memory target of 300 MB. `--before DIR` also runs another build's CLI
 * (DIR/dist/src/cli/main.js, e.g. a checkout of main) on the same files, for a before/after table.
 *
 *   npm run build && node dist/bench/many-tensors.js [--dir /tmp/truecast-many] [--count 1000000] [--before DIR] [--skip bf16]
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../test/helpers.js";
import { writeExpertShard } from "../test/formats/safetensors/huge-headers.js";
import { machine, mb, timed, type Timed } from "./lib.js";

/** The export memory target (BENCHMARKS.md). */
const TARGET_MB = 300;

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-many" },
    count: { type: "string", default: "1000000" },
    before: { type: "string" },
    skip: { type: "string", default: "" },
  },
});
const dir = values.dir;
const count = Number(values.count);
const skip = new Set(values.skip.split(",").filter(Boolean));
const builds: [string, string][] = [
  ...(values.before !== undefined ? [["before", join(values.before, "dist", "src", "cli", "main.js")] as [string, string]] : []),
  ["this build", join(repoRoot(), "dist", "src", "cli", "main.js")],
];

await mkdir(dir, { recursive: true });
const f16 = join(dir, "experts-f16.safetensors");
const f32 = join(dir, "experts-f32.safetensors");
await writeExpertShard(f16, count, "F16");
if (!skip.has("bf16")) await writeExpertShard(f32, count, "F32");

const rows: string[] = [];
function row(build: string, what: string, t: Timed): void {
  const mark = t.peakRss <= TARGET_MB * 1e6 ? "" : ` (over ${TARGET_MB} MB)`;
  rows.push(`| ${build} | ${what} | ${t.seconds.toFixed(1)} s | ${mb(t.peakRss)}${mark} |`);
  console.log(rows.at(-1));
}

for (const [build, bin] of builds) {
  row(build, "inspect", await timed("inspect", process.execPath, [bin, "inspect", f16]));
  const out = join(dir, "out");
  await rm(out, { recursive: true, force: true });
  row(build, "export (copy)", await timed("export", process.execPath, [bin, "export", f16, out, "--quiet"]));
  if (!skip.has("bf16")) {
    await rm(out, { recursive: true, force: true });
    row(build, "export --dtype bfloat16 (from float32)", await timed("export bf16", process.execPath, [bin, "export", f32, out, "--dtype", "bfloat16", "--quiet"]));
  }
  await rm(out, { recursive: true, force: true });
}

console.log(`\n${count.toLocaleString("en-US")} one-element tensors in one file; ${machine()}\n`);
console.log("| build | command | wall | peak RSS |\n| --- | --- | --- | --- |\n" + rows.join("\n"));
