/**
 * Reading PyTorch checkpoints (issue 3): truecast export of a ≥ 2 GB bfloat16 `pytorch_model.bin` written by
 * torch.save, against a PyTorch script that torch.loads it and writes the same tensors' bytes into a
 * safetensors file, alternating in the same run. Both outputs must hold the same tensors with the same bytes,
 * else the benchmark fails. Prints Markdown rows like bench/export.ts.
 *
 * Two cache states: "warm" (the checkpoint in the page cache, as right after a download) and "cold" (its pages
 * dropped before every run of either tool, as on a machine that has not read it lately).
 *
 *   npx tsc -p . && node dist/bench/torch-bin.js [--dir /tmp/truecast-bench-torch] [--gb 2] [--runs 3] [--cache warm,cold] [--keep]
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readRangeChunks, readSafetensorsHeader } from "../src/formats/safetensors/read.js";
import { repoRoot } from "../test/helpers.js";
import { machine, mb, median, medianRun, timed, type Timed } from "./lib.js";

const PYTHON = "/usr/bin/python3";
/** Read size while hashing the outputs: large enough to keep syscalls rare, small next to the RSS budget. */
const HASH_CHUNK = 16 * 2 ** 20;
const TARGET_RATIO = 0.5;
const TARGET_RSS = 300e6;

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-bench-torch" },
    gb: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    keep: { type: "boolean", default: false },
    cache: { type: "string", default: "warm,cold" },
  },
});
const dir = values.dir;
const runs = Number(values.runs);
const gb = Number(values.gb);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${values.runs}: want a positive integer`);
const caches = values.cache.split(",").filter(Boolean);
if (caches.length === 0 || !caches.every((c): c is "warm" | "cold" => c === "warm" || c === "cold")) {
  throw new Error(`--cache ${values.cache}: want warm, cold or warm,cold`);
}
if (!(gb > 0)) throw new Error(`--gb ${values.gb}: want a positive number`);
const root = repoRoot();
// The CLI built beside this file, so that a private build (tsc --outDir elsewhere) runs its own copy.
const bin = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const src = join(dir, `src-${gb}gb`);
const ours = join(dir, "truecast");
const theirs = join(dir, "torch");

/** Generates the checkpoint once; a later run with the same --dir and --gb reuses it. */
function ensureCheckpoint(): void {
  if (existsSync(join(src, "pytorch_model.bin")) && existsSync(join(src, "config.json"))) {
    console.log(`reusing ${src}`);
    return;
  }
  console.log(`writing a ${gb} GB bfloat16 pytorch_model.bin with torch.save to ${src}`);
  const out = execFileSync(PYTHON, [join(root, "bench", "reference", "make_torch_bin.py"), src, String(gb)], { encoding: "utf8" });
  console.log(out.trim());
}

/** Flush the previous run's written pages so that they are not written back during the next timed run. */
function settle(): void {
  execFileSync("sync");
}

const truecastRun = async (): Promise<Timed> => {
  await rm(ours, { recursive: true, force: true });
  settle();
  return timed("truecast", process.execPath, [bin, "export", src, ours, "--quiet"]);
};
const torchRun = async (): Promise<Timed> => {
  await rm(theirs, { recursive: true, force: true });
  settle();
  return timed("PyTorch torch.load + write", PYTHON, [join(root, "bench", "reference", "torch_load_write.py"), src, theirs]);
};

interface TensorDigest {
  readonly dtype: string;
  readonly shape: string;
  readonly sha256: string;
}

/** sha256 of every tensor's bytes across the safetensors files of `folder`, by tensor name. */
async function tensorDigests(folder: string): Promise<Map<string, TensorDigest>> {
  const digests = new Map<string, TensorDigest>();
  const files = (await readdir(folder)).filter((f) => f.endsWith(".safetensors")).sort();
  if (files.length === 0) throw new Error(`${folder}: no .safetensors file was written`);
  for (const file of files) {
    const header = await readSafetensorsHeader(join(folder, file));
    for (const e of header.entries) {
      const hash = createHash("sha256");
      for await (const chunk of readRangeChunks(header.path, header.dataStart + e.begin, e.end - e.begin, HASH_CHUNK)) hash.update(chunk);
      if (digests.has(e.name)) throw new Error(`${folder}: tensor ${e.name} is written twice`);
      digests.set(e.name, { dtype: e.dtype, shape: e.shape.join("×"), sha256: hash.digest("hex") });
    }
  }
  return digests;
}

/** The differences between the two outputs' tensors (empty when identical). */
async function compareOutputs(): Promise<{ tensors: number; bytes: number; problems: string[] }> {
  const a = await tensorDigests(ours);
  const b = await tensorDigests(theirs);
  const problems: string[] = [];
  for (const [name, d] of b) {
    const o = a.get(name);
    if (o === undefined) problems.push(`${name}: missing from truecast's output`);
    else if (o.dtype !== d.dtype || o.shape !== d.shape) problems.push(`${name}: truecast ${o.dtype} ${o.shape}, PyTorch ${d.dtype} ${d.shape}`);
    else if (o.sha256 !== d.sha256) problems.push(`${name}: bytes differ (sha256 ${o.sha256} vs ${d.sha256})`);
  }
  for (const name of a.keys()) if (!b.has(name)) problems.push(`${name}: only in truecast's output`);
  let bytes = 0;
  for (const file of (await readdir(theirs)).filter((f) => f.endsWith(".safetensors"))) {
    const h = await readSafetensorsHeader(join(theirs, file));
    for (const e of h.entries) bytes += e.end - e.begin;
  }
  return { tensors: b.size, bytes, problems };
}

/** Drop the checkpoint's pages from the page cache (posix_fadvise DONTNEED through GNU dd), so the next run reads it from disk. */
function evictSource(): void {
  execFileSync("dd", [`if=${join(src, "pytorch_model.bin")}`, "iflag=nocache", "count=0", "status=none"]);
}

interface ModeResult {
  readonly row: string;
  readonly notes: readonly string[];
}

/** Alternating runs in one cache state; the outputs of the last pair are compared tensor by tensor. */
async function measure(cache: "warm" | "cold"): Promise<ModeResult> {
  const as: Timed[] = [];
  const bs: Timed[] = [];
  const prepare = (): void => (cache === "cold" ? evictSource() : undefined);
  if (cache === "warm") execFileSync("cat", [join(src, "pytorch_model.bin")], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < runs; i++) {
    prepare();
    as.push(await truecastRun());
    prepare();
    bs.push(await torchRun());
    const [x, y] = [as[i], bs[i]];
    if (x && y) {
      console.log(`${cache} run ${i + 1}/${runs}: truecast ${x.seconds.toFixed(2)} s (cpu ${x.cpu.toFixed(2)} s) ${mb(x.peakRss)}, PyTorch ${y.seconds.toFixed(2)} s (cpu ${y.cpu.toFixed(2)} s) ${mb(y.peakRss)}`);
    }
  }
  const a = medianRun(as);
  const b = medianRun(bs);
  const check = await compareOutputs();
  if (check.problems.length > 0) {
    console.error(`FAILED (${cache}): the outputs differ in ${check.problems.length} tensors:\n${check.problems.slice(0, 20).join("\n")}`);
    process.exitCode = 1;
  } else {
    console.log(`${cache}: outputs identical: ${check.tensors} tensors, ${(check.bytes / 1e9).toFixed(2)} GB, same names, dtypes, shapes and sha256`);
  }
  const ratio = a.seconds / b.seconds;
  const met = ratio <= TARGET_RATIO && a.peakRss <= TARGET_RSS;
  const where = cache === "warm" ? "checkpoint in the page cache" : "checkpoint evicted from the page cache before each run";
  const row =
    `| export ${(check.bytes / 1e9).toFixed(2)} GB bf16 pytorch_model.bin → safetensors, ${where} (median of ${runs}) | ${a.seconds.toFixed(2)} s | ${mb(a.peakRss)} | ` +
    `${b.label} ${b.seconds.toFixed(2)} s | ${mb(b.peakRss)} | ${ratio.toFixed(2)}× | ≤ ${TARGET_RATIO}× PyTorch, ≤ ${mb(TARGET_RSS)}: ${met ? "met" : "missed"} |`;
  const cpuA = median(as.map((x) => x.cpu));
  const cpuB = median(bs.map((x) => x.cpu));
  const notes = [
    `${cache}, wall of every run: truecast ${as.map((x) => x.seconds.toFixed(2)).join(", ")} s; PyTorch ${bs.map((x) => x.seconds.toFixed(2)).join(", ")} s`,
    `${cache}, median of paired wall ratios (each truecast run over the PyTorch run right after it): ${median(as.map((x, i) => x.seconds / (bs[i]?.seconds ?? NaN))).toFixed(2)}×`,
    `${cache}, median CPU time (user + sys): truecast ${cpuA.toFixed(2)} s, PyTorch ${cpuB.toFixed(2)} s, ratio ${(cpuA / cpuB).toFixed(2)}×`,
  ];
  return { row, notes };
}

console.log(`machine: ${machine()}; ${new Date().toISOString()}`);
ensureCheckpoint();
const results: ModeResult[] = [];
for (const cache of caches) results.push(await measure(cache));
console.log("\n| run | truecast | peak RSS | reference | ref. peak RSS | ratio | target |");
console.log("|---|---|---|---|---|---|---|");
for (const r of results) console.log(r.row);
console.log("");
for (const r of results) for (const n of r.notes) console.log(n);
if (!values.keep) {
  await rm(ours, { recursive: true, force: true });
  await rm(theirs, { recursive: true, force: true });
}
