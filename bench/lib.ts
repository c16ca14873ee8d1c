import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { layoutTensors, serializeHeader } from "../src/formats/safetensors/header.js";
import { serializeIndex } from "../src/formats/safetensors/index-file.js";
import { shardFileName } from "../src/export/plan.js";
import type { DType } from "../src/dtype/table.js";

export interface Timed {
  readonly label: string;
  readonly seconds: number;
  /** Peak resident set size of the command, bytes. */
  readonly peakRss: number;
}

const TIME = "/usr/bin/time";

/** Run a command under GNU time; returns wall seconds and peak RSS. Fails loudly when the command fails. */
export async function timed(label: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  if (!existsSync(TIME)) throw new Error(`${TIME} is missing: apt-get install -y time`);
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ["-f", "TIMED %e %M", cmd, ...args], { stdio: ["ignore", "ignore", "pipe"], env });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      const m = /TIMED ([\d.]+) (\d+)\s*$/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${label} failed (exit ${code}): ${err.slice(-2000)}`));
      resolve({ label, seconds: Number(m[1]), peakRss: Number(m[2]) * 1024 });
    });
  });
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
