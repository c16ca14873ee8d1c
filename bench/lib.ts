import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { layoutTensors, serializeHeader } from "../src/formats/safetensors/header.js";
import { serializeIndex } from "../src/formats/safetensors/index-file.js";
import { shardFileName } from "../src/export/plan.js";
import type { DType } from "../src/dtype/table.js";
import { RACY_MS } from "../src/export/digest-cache.js";

export interface Timed {
  readonly label: string;
  readonly seconds: number;
  /** Peak resident set size of the command, bytes. */
  readonly peakRss: number;
  /** User + system CPU seconds of the command and its children: steadier than wall time on a shared machine. */
  readonly cpu: number;
}

const TIME = "/usr/bin/time";

/**
 * Run a command under GNU time; returns wall seconds, peak RSS and CPU time. Fails loudly when the command fails.
 *
 * Without `env`, the command gets a truecast cache of its own (`TRUECAST_CACHE`), new, empty and removed after it:
 * every measured export is then a first export, which reads each source file to compute its SHA-256, never one
 * that takes the digests an earlier run left in the digest cache (export/digest-cache.ts). The re-export case is
 * measured on purpose, with {@link primedCache}'s env, and reported under its own label.
 */
export async function timed(label: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  if (!existsSync(TIME)) throw new Error(`${TIME} is missing: apt-get install -y time`);
  const fresh = env === undefined ? await mkdtemp(join(tmpdir(), "truecast-bench-cache-")) : null;
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(TIME, ["-f", "TIMED %e %M %U %S", cmd, ...args], { stdio: ["ignore", "ignore", "pipe"], env: env ?? { ...process.env, TRUECAST_CACHE: fresh ?? "" } });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => {
        const m = /TIMED ([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(err);
        if (code !== 0 || !m) return reject(new Error(`${label} failed (exit ${code}): ${err.slice(-2000)}`));
        resolve({ label, seconds: Number(m[1]), peakRss: Number(m[2]) * 1024, cpu: Number(m[3]) + Number(m[4]) });
      });
    });
  } finally {
    if (fresh !== null) await rm(fresh, { recursive: true, force: true });
  }
}

/** Several runs of one command as one: median wall and CPU time, highest peak RSS. */
export function medianRun(xs: readonly Timed[], label = ""): Timed {
  return { label: xs[0]?.label ?? label, seconds: median(xs.map((x) => x.seconds)), peakRss: Math.max(...xs.map((x) => x.peakRss)), cpu: median(xs.map((x) => x.cpu)) };
}

/**
 * A truecast cache holding the digests of every file in `folders` (the re-export case: an unchanged model exported
 * again): waits until the files are too old to be racy for the digest cache, runs `prime` (an export of them) with
 * the env returned, and checks that each file got its entry. `done()` removes the cache.
 */
export async function primedCache(folders: readonly string[], prime: (env: NodeJS.ProcessEnv) => Promise<unknown>): Promise<{ env: NodeJS.ProcessEnv; done: () => Promise<void> }> {
  const files: string[] = [];
  for (const f of folders) for (const n of await readdir(f)) if (/\.(safetensors|bin|pt|pth)$/.test(n)) files.push(join(f, n));
  const newest = Math.max(...(await Promise.all(files.map(async (f) => { const s = await stat(f); return Math.max(s.mtimeMs, s.ctimeMs); }))));
  const wait = newest + RACY_MS + 500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const dir = await mkdtemp(join(tmpdir(), "truecast-bench-primed-"));
  const env = { ...process.env, TRUECAST_CACHE: dir };
  await prime(env);
  const entries = (await readdir(join(dir, "digests")).catch(() => [])).filter((n) => n.endsWith(".json")).length;
  if (entries < files.length) throw new Error(`priming the digest cache recorded ${entries} of ${files.length} source files`);
  return { env, done: () => rm(dir, { recursive: true, force: true }) };
}

/** The machine, for BENCHMARKS.md. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpus().length} cores (${cpu.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
}

/** xorshift32 stream of finite float values for `dtype` (no NaN, no inf), written into `out`. */
export function fillWeights(out: Uint8Array, dtype: "BF16" | "F32", seed: number): number {
  let x = seed >>> 0 || 1;
  if (dtype === "BF16") {
    const u = new Uint16Array(out.buffer, out.byteOffset, out.byteLength / 2);
    for (let i = 0; i < u.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      u[i] = (x & 0x8000) | ((0x70 + ((x >>> 16) % 14)) << 7) | ((x >>> 8) & 0x7f);
    }
  } else {
    const u = new Uint32Array(out.buffer, out.byteOffset, out.byteLength / 4);
    for (let i = 0; i < u.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      u[i] = (x & 0x80000000) | ((0x70 + ((x >>> 16) % 14)) << 23) | (x & 0x7fffff);
    }
  }
  return x;
}

/**
 * Write a Llama-like sharded safetensors folder of `totalBytes` (approximately) in `dtype`: square
 * `width`×`width` matrices, `shardBytes` per shard, with config.json and an index.
 */
export async function writeBenchModel(params: { dir: string; dtype: "BF16" | "F32"; totalBytes: number; shardBytes: number; width?: number }): Promise<{ tensors: number; bytes: number }> {
  const width = params.width ?? 4096;
  const size = params.dtype === "BF16" ? 2 : 4;
  const tensorBytes = width * width * size;
  const count = Math.max(1, Math.round(params.totalBytes / tensorBytes));
  const perShard = Math.max(1, Math.floor(params.shardBytes / tensorBytes));
  const shardCount = Math.ceil(count / perShard);
  await rm(params.dir, { recursive: true, force: true });
  await mkdir(params.dir, { recursive: true });
  const weightMap = new Map<string, string>();
  const buf = new Uint8Array(tensorBytes);
  let seed = 12345;
  for (let s = 0; s < shardCount; s++) {
    const names: string[] = [];
    for (let i = s * perShard; i < Math.min(count, (s + 1) * perShard); i++) {
      const layer = Math.floor(i / 7);
      const kind = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"][i % 7];
      names.push(`model.layers.${layer}.${kind}.weight`);
    }
    const file = shardFileName(s, shardCount);
    const entries = layoutTensors(names.map((name) => ({ name, dtype: params.dtype as DType, shape: [width, width], byteLength: tensorBytes })));
    const fh = await open(join(params.dir, file), "w");
    try {
      await fh.write(serializeHeader(entries, { format: "pt" }));
      for (const e of entries) {
        seed = fillWeights(buf, params.dtype, seed);
        await fh.write(buf);
        weightMap.set(e.name, file);
      }
    } finally {
      await fh.close();
    }
  }
  if (shardCount > 1) await writeFile(join(params.dir, "model.safetensors.index.json"), serializeIndex({ totalSize: count * tensorBytes, weightMap }));
  await writeFile(
    join(params.dir, "config.json"),
    JSON.stringify({ architectures: ["LlamaForCausalLM"], hidden_size: width, model_type: "llama", torch_dtype: params.dtype === "BF16" ? "bfloat16" : "float32" }, null, 2) + "\n",
  );
  return { tensors: count, bytes: count * tensorBytes };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}
