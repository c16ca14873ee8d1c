/**
 * Scale benchmark (issue 12): a Llama-2-70B-shaped repo (80 layers, 15 bfloat16 shards, 138 GB) served by a Hub
 * double that generates its bytes, converted and pushed by `truecast export hf://bench/llama-2-70b <out> --push
 * bench/out` to a sink double that hashes and drops what it receives; in the same run, the double's raw speeds:
 * a plain client reading the whole repo by 64 MiB ranges, and a plain node:http PUT of the same bytes to the sink.
 * The export runs under /usr/bin/time (wall, peak RSS, CPU) while its working folder's disk use is sampled every
 * 0.5 s. Each run checks that every shard truecast published reached the sink with the sha256 truecast reports.
 * Prints Markdown rows for BENCHMARKS.md.
 *
 * With --format bin the repo holds the same model as torch.save pickles (pytorch_model-000NN-of-00015.bin + index,
 * bench/scale-model.ts) and the conversion is issue 12's: `export hf://bench/llama-2-70b --push bench/llama-2-70b
 * --create-pr --replace-weights`, checked to open one pull request that adds the safetensors and deletes the pickles.
 *
 *   npm run build && node dist/bench/scale.js [--format safetensors|bin] [--cpu-prof <dir>] [--layers 80] [--max-shard-size 5GB] [--runs 1] [--dir /tmp/truecast-bench-scale] [--no-raw]
 *   (--no-raw: the conversion alone; MEMLOG and TRUECAST_BENCH_NODE_OPTIONS: see bench/mem-sampler.ts)
 *     [--hidden 8192 --intermediate 28672 --heads 64 --kv-heads 8 --vocab 32000 --shards 15]   (smaller shapes for quick checks)
 */
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { machine, mb, median } from "./lib.js";
import { LLAMA_2_70B, type LlamaShape } from "./scale-model.js";
import { runScaleBench, type ScaleResult } from "./scale-run.js";

const { values } = parseArgs({
  options: {
    layers: { type: "string", default: String(LLAMA_2_70B.layers) },
    hidden: { type: "string", default: String(LLAMA_2_70B.hidden) },
    intermediate: { type: "string", default: String(LLAMA_2_70B.intermediate) },
    heads: { type: "string", default: String(LLAMA_2_70B.heads) },
    "kv-heads": { type: "string", default: String(LLAMA_2_70B.kvHeads) },
    vocab: { type: "string", default: String(LLAMA_2_70B.vocab) },
    shards: { type: "string", default: String(LLAMA_2_70B.shards) },
    "max-shard-size": { type: "string", default: "5GB" },
    runs: { type: "string", default: "1" },
    "no-raw": { type: "boolean", default: false },
    dir: { type: "string", default: "/tmp/truecast-bench-scale" },
    format: { type: "string", default: "safetensors" },
    "cpu-prof": { type: "string" },
  },
});
const shape: LlamaShape = {
  layers: Number(values.layers), hidden: Number(values.hidden), intermediate: Number(values.intermediate), heads: Number(values.heads),
  kvHeads: Number(values["kv-heads"]), vocab: Number(values.vocab), shards: Number(values.shards),
};
if (values.format !== "safetensors" && values.format !== "bin") throw new Error(`--format ${values.format}: want safetensors or bin`);
const format = values.format;
const started = new Date().toISOString();
const load0 = loadavg()[0] ?? 0;
console.log(`machine: ${machine()}; ${started}; load average ${load0.toFixed(2)}`);
const r: ScaleResult = await runScaleBench({
  shape, format, dir: values.dir, ...(values["cpu-prof"] !== undefined && { cpuProfileDir: values["cpu-prof"] }), maxShardSize: values["max-shard-size"], runs: Number(values.runs), raw: !values["no-raw"], log: (s) => console.log(s),
});
const load1 = loadavg()[0] ?? 0;

const gbps = (s: number) => `${(r.sourceBytes / s / 1e6).toFixed(0)} MB/s`;
const read = median(r.read.map((x) => x.seconds));
const put = median(r.put.map((x) => x.seconds));
const conv = median(r.conversion.map((x) => x.seconds));
const rss = Math.max(...r.conversion.map((x) => x.peakRss));
const disk = Math.max(...r.conversion.map((x) => x.peakDisk));
const shard = Math.max(...r.conversion.map((x) => x.largestShard));
const cpu = median(r.conversion.map((x) => x.cpu));
const dcpu = median(r.conversion.map((x) => x.serverCpu));
const what = `${shape.layers} layers (hidden ${shape.hidden}), ${r.tensors} tensors, ${r.shards} bfloat16 ${format === "bin" ? "pytorch_model-*.bin (torch.save) shards → PR with --replace-weights" : "shards"}, ${(r.sourceBytes / 1e9).toFixed(1)} GB`;
console.log(`\n| model | raw range read | raw PUT | truecast export --push | vs read | vs PUT | peak RSS | peak disk (largest shard) | CPU (truecast + double) | target |`);
console.log("|---|---|---|---|---|---|---|---|---|---|");
console.log(
  `| ${what}, --max-shard-size ${values["max-shard-size"]}, median of ${values.runs} | ${gbps(read)} | ${gbps(put)} | ${conv.toFixed(0)} s (${gbps(conv)}) | ` +
    `${(read / conv).toFixed(2)}× | ${(put / conv).toFixed(2)}× | ${mb(rss)} | ${(disk / 1e9).toFixed(2)} GB (${(shard / 1e9).toFixed(2)} GB) | ` +
    `${cpu.toFixed(0)} s + ${dcpu.toFixed(0)} s | ≤ 200 MB, ≤ 2 shards on disk |`,
);
console.log(
  `\n- ${cpus().length} cores; load average ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end; double peak RSS ${mb(r.serverRss)}; ` +
    `raw read client CPU ${median(r.read.map((x) => x.cpu)).toFixed(0)} s + double ${median(r.read.map((x) => x.serverCpu)).toFixed(0)} s; ` +
    `raw PUT client CPU ${median(r.put.map((x) => x.cpu)).toFixed(0)} s + double ${median(r.put.map((x) => x.serverCpu)).toFixed(0)} s`,
);
const over = [rss > 200e6 ? `peak RSS ${mb(rss)} > 200 MB` : "", r.conversion.some((x) => x.peakDisk > x.diskLimit) ? `peak disk ${disk} > 2 shards + small files` : ""].filter(Boolean);
if (over.length) {
  console.log(`OVER TARGET: ${over.join("; ")}`);
  process.exitCode = 1;
}
