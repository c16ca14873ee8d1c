/**
 * LoRA merge benchmark (issue 4): `truecast export base out --adapter adapter` against a PyTorch script doing the
 * same merge (bench/reference/torch_lora_merge.py: load, merge in float32, write), alternating, median of N runs.
 * The model has 4096×4096 bfloat16 weights (≥ 2 GB); the adapter puts rank-16 float32 LoRA factors on every one.
 * The two outputs are compared element by element (bit-identical share, largest distance in ulps).
 *
 * Each measured truecast run is a first export, with a new empty truecast cache (lib.ts `timed`): it reads the base
 * model's and the adapter's files to compute their SHA-256. The re-export of the same unchanged inputs, whose
 * digests the digest cache holds, follows on a row of its own (`--no-reexport` leaves it out).
 *
 *   npm run build && node dist/bench/lora.js [--dir /tmp/truecast-lora-bench] [--gb 2] [--runs 3] [--rank 16] [--prepare-only] [--no-reexport]
 */
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { layoutTensors, serializeHeader } from "../src/formats/safetensors/header.js";
import { openSafetensorsFolder } from "../src/sources/safetensors.js";
import { readAllBytes } from "../src/transforms/lora/tensor-io.js";
import { repoRoot } from "../test/helpers.js";
import { machine, mb, median, primedCache, timed, writeBenchModel, type Timed } from "./lib.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-lora-bench" },
    gb: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    rank: { type: "string", default: "16" },
    width: { type: "string", default: "4096" },
    /** Write the model and the adapter, then stop (to profile a run by hand). */
    "prepare-only": { type: "boolean", default: false },
    /** Leave out the re-export case (source digests cached). */
    "no-reexport": { type: "boolean", default: false },
  },
});
const dir = values.dir;
const runs = Number(values.runs);
const rank = Number(values.rank);
const width = Number(values.width);
const bin = join(repoRoot(), "dist", "src", "cli", "main.js");
const script = join(repoRoot(), "bench", "reference", "torch_lora_merge.py");

/** Uniform float32 values in [-amp, amp) from an xorshift32 stream. */
function fillUniform(out: Float32Array, amp: number, seed: number): number {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 2 ** 32 * 2 - 1) * amp;
  }
  return x;
}

/** A PEFT adapter folder with rank-`rank` float32 factors for every weight of the base (all `width`×`width`). */
async function writeAdapter(p: { dir: string; names: readonly string[]; width: number; rank: number }): Promise<number> {
  await rm(p.dir, { recursive: true, force: true });
  await mkdir(p.dir, { recursive: true });
  const modules = p.names.map((n) => n.slice(0, -".weight".length));
  const bytes = p.rank * p.width * 4;
  const tensors = modules.flatMap((m) => [
    { name: `base_model.model.${m}.lora_A.weight`, dtype: "F32" as const, shape: [p.rank, p.width], byteLength: bytes },
    { name: `base_model.model.${m}.lora_B.weight`, dtype: "F32" as const, shape: [p.width, p.rank], byteLength: bytes },
  ]);
  const entries = layoutTensors(tensors);
  const fh = await open(join(p.dir, "adapter_model.safetensors"), "w");
  const buf = new Float32Array(p.rank * p.width);
  let seed = 777;
  try {
    await fh.write(serializeHeader(entries, { format: "pt" }));
    for (const e of entries) {
      // A ~ U(±1/√in) as PEFT initialises it; B small, as after a short fine-tune
      seed = fillUniform(buf, e.name.includes("lora_A") ? 1 / Math.sqrt(p.width) : 0.01, seed);
      await fh.write(new Uint8Array(buf.buffer));
    }
  } finally {
    await fh.close();
  }
  const targets = [...new Set(modules.map((m) => m.split(".").pop() ?? m))].sort();
  await writeFile(
    join(p.dir, "adapter_config.json"),
    JSON.stringify({ peft_type: "LORA", task_type: "CAUSAL_LM", r: p.rank, lora_alpha: 2 * p.rank, target_modules: targets, lora_dropout: 0, bias: "none", fan_in_fan_out: false, use_rslora: false, use_dora: false, base_model_name_or_path: null }, null, 2) + "\n",
  );
  return entries.length;
}

/** bf16 bit patterns on a line where neighbours differ by 1 (both zeros are 0). */
function ordered(u: number): number {
  return u & 0x8000 ? -(u & 0x7fff) : u;
}

/** Element-by-element comparison of two bf16 exports. */
async function compare(a: string, b: string): Promise<{ elements: number; identical: number; maxUlp: number; tensors: number }> {
  const ma = await openSafetensorsFolder(a);
  const mbm = await openSafetensorsFolder(b);
  try {
    const byName = new Map(mbm.tensors.map((t) => [t.name, t]));
    let elements = 0;
    let identical = 0;
    let maxUlp = 0;
    for (const ta of ma.tensors) {
      const tb = byName.get(ta.name);
      if (tb === undefined || tb.dtype !== "BF16" || ta.dtype !== "BF16") throw new Error(`${ta.name}: missing or not BF16 in ${b}`);
      const x = await readAllBytes(ta);
      const y = await readAllBytes(tb);
      const u = new Uint16Array(x.buffer, x.byteOffset, x.byteLength / 2);
      const v = new Uint16Array(y.buffer, y.byteOffset, y.byteLength / 2);
      for (let i = 0; i < u.length; i++) {
        const d = Math.abs(ordered(u[i] as number) - ordered(v[i] as number));
        if (d === 0) identical++;
        else if (d > maxUlp) maxUlp = d;
      }
      elements += u.length;
    }
    if (ma.tensors.length !== mbm.tensors.length) throw new Error(`${a} has ${ma.tensors.length} tensors, ${b} ${mbm.tensors.length}`);
    return { elements, identical, maxUlp, tensors: ma.tensors.length };
  } finally {
    await ma.close();
    await mbm.close();
  }
}

console.log(`machine: ${machine()}; ${new Date().toISOString()}`);
const gb = Number(values.gb);
const base = join(dir, "base");
const adapter = join(dir, "adapter");
const out = join(dir, "out");
const torchOut = join(dir, "torch");
console.log(`writing a ${gb} GB bfloat16 model (${width}×${width} weights, 500 MB shards) to ${base}`);
const model = await writeBenchModel({ dir: base, dtype: "BF16", totalBytes: gb * 1e9, shardBytes: 500e6, width });
const names = (await openSafetensorsFolder(base).then(async (m) => {
  const n = m.tensors.map((t) => t.name);
  await m.close();
  return n;
}));
const adapterTensors = await writeAdapter({ dir: adapter, names, width, rank });
console.log(`adapter: rank ${rank} on all ${names.length} weights (${adapterTensors} float32 tensors) in ${adapter}`);
if (values["prepare-only"]) process.exit(0);

/** Alternates `runs` truecast merges (with `env`, else a new empty cache each) and PyTorch's; returns the table row. */
async function measure(label: string, target: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const ours: Timed[] = [];
  const theirs: Timed[] = [];
  for (let i = 0; i < runs; i++) {
    await rm(out, { recursive: true, force: true });
    ours.push(await timed("truecast", process.execPath, [bin, "export", base, out, "--adapter", adapter, "--quiet"], env));
    console.log(`  ${label} truecast run ${i + 1}: ${ours.at(-1)?.seconds.toFixed(2)} s (CPU ${ours.at(-1)?.cpu.toFixed(2)} s), ${mb(ours.at(-1)?.peakRss ?? 0)}`);
    await rm(torchOut, { recursive: true, force: true });
    theirs.push(await timed("PyTorch", "/usr/bin/python3", [script, base, adapter, torchOut]));
    console.log(`  ${label} PyTorch run ${i + 1}: ${theirs.at(-1)?.seconds.toFixed(2)} s (CPU ${theirs.at(-1)?.cpu.toFixed(2)} s), ${mb(theirs.at(-1)?.peakRss ?? 0)}`);
  }
  const t = median(ours.map((x) => x.seconds));
  const p = median(theirs.map((x) => x.seconds));
  const rssOurs = Math.max(...ours.map((x) => x.peakRss));
  const rssTheirs = Math.max(...theirs.map((x) => x.peakRss));
  return `| ${label}, median of ${runs} | ${t.toFixed(2)} s | ${mb(rssOurs)} | ${p.toFixed(2)} s | ${mb(rssTheirs)} | ${(t / p).toFixed(2)}× | ${target} |`;
}

const what = `merge rank-${rank} LoRA into ${names.length} × ${width}² bf16 weights (${(model.bytes / 1e9).toFixed(2)} GB)`;
const rows = [await measure(what, "≤ 1.0× PyTorch, ≤ 500 MB")];
const c = await compare(out, torchOut);
if (!values["no-reexport"]) {
  const primed = await primedCache([base, adapter], (env) => rm(out, { recursive: true, force: true }).then(() => timed("truecast", process.execPath, [bin, "export", base, out, "--adapter", adapter, "--quiet"], env)));
  try {
    rows.push(await measure(`${what}, re-export, source digests cached`, "(first export counts)", primed.env));
  } finally {
    await primed.done();
  }
}
console.log("\n| run | truecast | peak RSS | PyTorch | PyTorch peak RSS | ratio | target |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log(
  `\noutputs agree: ${c.identical} of ${c.elements} elements bit-identical (${((100 * c.identical) / c.elements).toFixed(4)}%), max ${c.maxUlp} ulp, ${c.tensors} tensors`,
);
await rm(out, { recursive: true, force: true });
await rm(torchOut, { recursive: true, force: true });
