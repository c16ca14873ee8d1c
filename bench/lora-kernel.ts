/**
 * The LoRA merge's fused bfloat16 pass alone, on one core (this thread): `mergeBf16Rows` over a block of 512 rows
 * × 4096 columns with rank-16 factors and bfloat16 output (the LoRA benchmark's shape), CPU nanoseconds per
 * element, best and median of ROUNDS calls. With `--against <dist>` (another build's `dist` folder, e.g. of a detached
 * worktree of main) the two builds alternate call by call in this process, the outputs and the reports are
 * compared, and the paired ratios printed, so that load on a shared machine hits both alike.
 *
 *   npm run build && node dist/bench/lora-kernel.js [--rounds 15] [--against /tmp/old/dist]
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { machine, median } from "./lib.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "15" }, against: { type: "string" } } });
const ROUNDS = Number(values.rounds);
const [ROWS, COLS, RANK] = [512, 4096, 16];

interface Kernel {
  mergeBf16Rows(p: Record<string, unknown>): { flagged: number[]; cast: object; changed: number; tooSmall: number };
}

async function kernelOf(dist: string): Promise<Kernel> {
  const url = pathToFileURL(resolve(dist, "src/transforms/lora/simd-kernel.js")).href;
  const mod = (await import(url)) as { createSimdKernel(): Kernel | null };
  const k = mod.createSimdKernel();
  if (k === null) throw new Error("WebAssembly SIMD is not available here");
  return k;
}

/** Inputs like a fine-tuned weight: bf16 base ~ U(±0.05), A ~ U(±1/64), B ~ U(±0.01), scale 2. */
function inputs(): Record<string, unknown> {
  let x = 12345;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 2 ** 32) * 2 - 1;
  };
  const left = new Float32Array(ROWS * RANK).map(() => rnd() * 0.01);
  const right = new Float32Array(RANK * COLS).map(() => rnd() / 64);
  const base = new Float32Array(ROWS * COLS).map(() => rnd() * 0.05);
  const baseBits = new Uint16Array(new Uint32Array(base.buffer).map((u) => u >>> 16));
  return {
    left, right, rank: RANK, cols: COLS, scale: 2, blockStartRow: 0, rowStart: 0, rowEnd: ROWS, baseBits,
    limit: 2 ** 128 - 2 ** 119, values: new Float32Array(ROWS * COLS), touched: new Uint8Array(ROWS * COLS),
    out: new Uint8Array(ROWS * COLS * 2).fill(1),
  };
}

/** CPU ns per element of one call (this process runs no other thread), and a digest of its output bytes and result. */
function run(k: Kernel, p: Record<string, unknown>): { ns: number; digest: string } {
  const t = process.cpuUsage();
  const r = k.mergeBf16Rows(p);
  const used = process.cpuUsage(t);
  const ns = ((used.user + used.system) * 1000) / (ROWS * COLS);
  const digest = createHash("sha256").update(p.out as Uint8Array).update(JSON.stringify(r)).digest("hex");
  return { ns, digest };
}

console.log(`machine: ${machine()}; ${new Date().toISOString()}; load ${(await import("node:os")).loadavg().map((l) => l.toFixed(1)).join(" ")}`);
const builds: [string, Kernel][] = [["this build", await kernelOf(resolve(import.meta.dirname, ".."))]];
if (values.against !== undefined) builds.unshift([values.against, await kernelOf(values.against)]);
const p = inputs();
const times: number[][] = builds.map(() => []);
const digests = new Set<string>();
for (let r = -1; r < ROUNDS; r++) {
  builds.forEach(([, k], i) => {
    const { ns, digest } = run(k, p);
    digests.add(digest);
    if (r >= 0) times[i]?.push(ns); // round −1 warms up
  });
}
builds.forEach(([name], i) => {
  const t = times[i] ?? [];
  console.log(`${name}: best ${Math.min(...t).toFixed(3)} ns/element, median ${median(t).toFixed(3)}`);
});
if (builds.length === 2) {
  const ratios = (times[1] ?? []).map((t, i) => t / (times[0]?.[i] ?? NaN));
  console.log(`paired ratio (this / against): median ${median(ratios).toFixed(3)}, range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}`);
  console.log(digests.size === 1 ? "outputs and reports identical" : "OUTPUTS OR REPORTS DIFFER");
  if (digests.size !== 1) process.exitCode = 1;
}
