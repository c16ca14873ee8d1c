/**
 * Export benchmark (issues 2 and 13): a bit-exact truecast export against `cp -r` followed by `cmp` of every file
 * (the cheapest way a careful person copies and proves a copy), with a warm page cache and with it dropped before
 * every run (`--cold`, needs root), and a float32 → bfloat16 export against PyTorch's `.to(torch.bfloat16)`, measured
 * in the same run. Prints a Markdown table.
 *
 * Every measured export is a first export: it runs with a new, empty truecast cache (lib.ts `timed`), so it reads
 * each source file to compute its SHA-256 (the figures counted against the targets). The re-export of the same
 * unchanged model, whose digests the digest cache holds, is measured after it and reported on rows of its own
 * ("re-export, source digests cached"; warm cache and the cast; `--skip reexport` leaves them out).
 *
 *   npm run build && node dist/bench/export.js [--dir /tmp/truecast-bench] [--gb 2] [--big-gb 10] [--runs 3]
 *     [--skip keep,cast,big,warm,cold,reexport]   (e.g. --skip keep,big: only the float32 → bfloat16 export against PyTorch)
 */
import { readdir, rm, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../test/helpers.js";
import { machine, mb, medianRun, primedCache, timed, writeBenchModel, type Timed } from "./lib.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-bench" },
    gb: { type: "string", default: "2" },
    "big-gb": { type: "string", default: "10" },
    runs: { type: "string", default: "3" },
    skip: { type: "string", default: "" },
  },
});
const dir = values.dir;
const runs = Number(values.runs);
const skip = new Set(values.skip.split(",").filter(Boolean));
const bin = join(repoRoot(), "dist", "src", "cli", "main.js");
const rows: string[] = [];

async function alternate(label: string, a: () => Promise<Timed>, b: () => Promise<Timed>): Promise<{ a: Timed; b: Timed }> {
  const as: Timed[] = [];
  const bs: Timed[] = [];
  for (let i = 0; i < runs; i++) {
    const [x, y] = [await a(), await b()];
    as.push(x);
    bs.push(y);
    console.log(`  ${label} pair ${i + 1}/${runs}: ${x.label} ${x.seconds.toFixed(2)} s (CPU ${x.cpu.toFixed(2)} s) ${mb(x.peakRss)}, ${y.label} ${y.seconds.toFixed(2)} s (CPU ${y.cpu.toFixed(2)} s) ${mb(y.peakRss)}, wall ratio ${(x.seconds / y.seconds).toFixed(2)}×`);
  }
  return { a: medianRun(as, label), b: medianRun(bs, label) };
}

function row(what: string, ours: Timed, ref: Timed, target: string): void {
  const line = `| ${what} | ${ours.seconds.toFixed(2)} s | ${mb(ours.peakRss)} | ${ref.label} ${ref.seconds.toFixed(2)} s | ${mb(ref.peakRss)} | ${(ours.seconds / ref.seconds).toFixed(2)}× | ${target} |`;
  rows.push(line);
  console.log(line);
}

const gb = Number(values.gb);
console.log(`machine: ${machine()}; ${new Date().toISOString()}`);
const src = join(dir, "bf16");
if (!skip.has("keep")) console.log(`writing a ${gb} GB bfloat16 model (4096×4096 tensors, 500 MB shards) to ${src}`);
const bf = skip.has("keep") ? null : await writeBenchModel({ dir: src, dtype: "BF16", totalBytes: gb * 1e9, shardBytes: 500e6 });
const out = join(dir, "out");
const cpOut = join(dir, "cp");
/** An export of `from`; with no `env`, with a new empty truecast cache (a first export). */
const exportRun = (from: string, extra: string[] = [], env?: NodeJS.ProcessEnv) => async () => {
  await rm(out, { recursive: true, force: true });
  return timed("truecast", process.execPath, [bin, "export", from, out, "--quiet", ...extra], env);
};
/** The re-export case: `ref` against exports of `from` whose source digests an unmeasured export left in the cache. */
async function reexport(what: string, from: string, extra: string[], ref: () => Promise<Timed>, target: string): Promise<void> {
  if (skip.has("reexport")) return;
  const primed = await primedCache([from], (env) => exportRun(from, extra, env)());
  try {
    const r = await alternate("re-export", exportRun(from, extra, primed.env), ref);
    row(`${what}, re-export, source digests cached (median of ${runs})`, r.a, r.b, target);
  } finally {
    await primed.done();
  }
}
/** `cp -r` then `cmp` of every file against its copy, in one shell (GNU time measures both). */
const CP_CMP = 'cp -r "$1" "$2" && for f in "$1"/*; do cmp "$f" "$2/${f##*/}" || exit 1; done';
/** Writes dirty pages and drops the page cache, so the next run reads its source from the disk. */
async function dropCaches(): Promise<void> {
  execFileSync("sync");
  await writeFile("/proc/sys/vm/drop_caches", "3\n");
}
const cold = (f: () => Promise<Timed>) => async () => {
  await dropCaches();
  return f();
};
const cpRun = (from: string) => async () => {
  await rm(cpOut, { recursive: true, force: true });
  return timed("cp + cmp", "sh", ["-c", CP_CMP, "sh", from, cpOut]);
};
/** Both runs of a case, warm then cold (each alternating truecast and the reference). */
async function keepCases(what: string, from: string, extra: string[], target: string, once = false): Promise<void> {
  const files = (await readdir(from)).length;
  for (const mode of ["warm", "cold"] as const) {
    if (skip.has(mode)) continue;
    const wrap = mode === "cold" ? cold : (f: () => Promise<Timed>) => f;
    const r = once ? { a: await wrap(exportRun(from, extra))(), b: await wrap(cpRun(from))() } : await alternate(mode, wrap(exportRun(from, extra)), wrap(cpRun(from)));
    row(`${what}, ${mode} cache (${files} files${once ? ", 1 run" : `, median of ${runs}`})`, r.a, r.b, target);
    if (mode === "warm" && !once) await reexport(what, from, extra, cpRun(from), "(first export counts)");
  }
}
console.log("| run | truecast | peak RSS | reference | ref. peak RSS | ratio | target |");
console.log("|---|---|---|---|---|---|---|");
if (bf !== null) await keepCases(`export ${(bf.bytes / 1e9).toFixed(1)} GB bf16, keep, 500 MB → 1 GB shards`, src, ["--max-shard-size", "1GB"], "≤ 1.0× cp + cmp, ≤ 200 MB");
if (!skip.has("cast")) {
  const f32 = join(dir, "f32");
  const f32Model = await writeBenchModel({ dir: f32, dtype: "F32", totalBytes: gb * 2e9, shardBytes: 1e9 });
  const torchOut = join(dir, "torch");
  const torchRun = async () => {
    await rm(torchOut, { recursive: true, force: true });
    return timed("PyTorch .to(bfloat16)", "/usr/bin/python3", [join(repoRoot(), "bench", "reference", "torch_cast.py"), f32, torchOut]);
  };
  const r = await alternate("cast", exportRun(f32, ["--dtype", "bfloat16"]), torchRun);
  const what = `export ${(f32Model.bytes / 1e9).toFixed(1)} GB f32 → bf16`;
  row(`${what} (median of ${runs})`, r.a, r.b, "≤ 0.4× PyTorch");
  await reexport(what, f32, ["--dtype", "bfloat16"], torchRun, "(first export counts)");
  await rm(f32, { recursive: true, force: true });
  await rm(torchOut, { recursive: true, force: true });
}
if (!skip.has("big")) {
  const big = Number(values["big-gb"]);
  const bigSrc = join(dir, "big");
  console.log(`writing a ${big} GB bfloat16 model to ${bigSrc}`);
  const b = await writeBenchModel({ dir: bigSrc, dtype: "BF16", totalBytes: big * 1e9, shardBytes: 2e9 });
  await keepCases(`export ${(b.bytes / 1e9).toFixed(1)} GB bf16, keep, 2 GB → 5 GB shards`, bigSrc, ["--max-shard-size", "5GB"], "≤ 1.0× cp + cmp, ≤ 200 MB, flat", true);
  await rm(bigSrc, { recursive: true, force: true });
}
await rm(out, { recursive: true, force: true });
await rm(cpOut, { recursive: true, force: true });
console.log("\n" + rows.join("\n"));
