/**
 * Very wide transposed torch views (issue 9 item 13): a `[rows, cols]` view of a contiguous `[cols, rows]` storage,
 * saved by torch.save as `w.t()`, read by truecast. Prints, for each run: the storage reads, bytes read and seconds
 * of `viewChunks` alone (through a counting file, a scratch folder lent), then `truecast export` of the checkpoint
 * (seconds, peak RSS), and checks the exported bytes against torch's `.contiguous()` (SHA-256), else fails.
 * To compare with an older build, copy this file's compiled form into that build's dist/bench and run it there.
 *
 *   npx tsc -p . && node dist/bench/wide-view.js [--dir /tmp/truecast-bench-wide] [--rows 4096] [--cols 32768] [--dtype bf16] [--runs 1]
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readTorchCheckpoint } from "../src/formats/torch/checkpoint.js";
import type { TorchTensor } from "../src/formats/torch/rebuild.js";
import { viewChunks } from "../src/formats/torch/read-view.js";
import { fileAccess, type RandomAccess } from "../src/formats/zip.js";
import { openSafetensorsFolder } from "../src/sources/safetensors.js";
import { machine, mb, timed } from "./lib.js";

const PYTHON = "/usr/bin/python3";
const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-bench-wide" },
    rows: { type: "string", default: "4096" },
    cols: { type: "string", default: "32768" },
    dtype: { type: "string", default: "bf16" },
    runs: { type: "string", default: "1" },
  },
});
const rows = Number(values.rows);
const cols = Number(values.cols);
const runs = Number(values.runs);
const torchDtype = { bf16: "bfloat16", f32: "float32" }[values.dtype];
if (torchDtype === undefined) throw new Error(`--dtype ${values.dtype}: want bf16 or f32`);
if (![rows, cols, runs].every((n) => Number.isInteger(n) && n > 0)) throw new Error("--rows, --cols, --runs: want positive integers");
const bin = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const ckpt = join(values.dir, `wide-${rows}x${cols}-${values.dtype}.pt`);

/** Writes the checkpoint once (a later run reuses it); returns the SHA-256 of torch's `.contiguous()` bytes. */
function ensureCheckpoint(): string {
  const script = `
import hashlib, os, sys, torch
rows, cols, path, dtype = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], getattr(torch, sys.argv[4])
g = torch.Generator().manual_seed(7)
width = torch.tensor([], dtype=dtype).element_size()
ints = {2: torch.int16, 4: torch.int32}[width]
w = torch.randint(-2 ** (8 * width - 1), 2 ** (8 * width - 1) - 1, (cols, rows), dtype=ints, generator=g).view(dtype)
if not os.path.exists(path):
    torch.save({"w": w.t()}, path)
print(hashlib.sha256(w.t().contiguous().view(ints).numpy().tobytes()).hexdigest())
`;
  return execFileSync(PYTHON, ["-c", script, String(rows), String(cols), ckpt, torchDtype as string], { encoding: "utf8" }).trim();
}

function counting(inner: RandomAccess): RandomAccess & { reads: number; bytes: number } {
  const c = { size: inner.size, reads: 0, bytes: 0, read: (p: number, n: number) => ((c.reads++, (c.bytes += n)), inner.read(p, n)) };
  return c;
}

/** viewChunks alone: reads, bytes read, seconds, CPU seconds (SHA-256 included), SHA-256 of the bytes. */
async function readView(scratchDir: string): Promise<{ reads: number; bytes: number; seconds: number; cpu: number; sha: string }> {
  const handle = await open(ckpt, "r");
  try {
    const inner = fileAccess(handle, (await handle.stat()).size);
    const ck = await readTorchCheckpoint({ file: inner, fileName: ckpt });
    const tensor = (ck.value as Map<unknown, unknown>).get("w") as TorchTensor;
    const file = counting(inner);
    const hash = createHash("sha256");
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for await (const c of viewChunks({ path: ckpt, tensor, chunkSize: 8 * 1024 * 1024, file, scratchDir } as Parameters<typeof viewChunks>[0])) hash.update(c);
    const cpu = process.cpuUsage(c0);
    return { reads: file.reads, bytes: file.bytes, seconds: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, sha: hash.digest("hex") };
  } finally {
    await handle.close();
  }
}

async function exportedSha(out: string): Promise<string> {
  const m = await openSafetensorsFolder(out);
  try {
    const hash = createHash("sha256");
    for await (const c of (m.tensors[0] ?? { chunks: () => [] }).chunks(8 * 1024 * 1024)) hash.update(c);
    return hash.digest("hex");
  } finally {
    await m.close();
  }
}

await mkdir(values.dir, { recursive: true });
console.log(machine());
console.log(`checkpoint: ${ckpt}${existsSync(ckpt) ? " (reused)" : ""}; view [${rows}, ${cols}] ${values.dtype}, storage [${cols}, ${rows}]`);
const want = ensureCheckpoint();
const scratch = join(values.dir, "scratch");
await mkdir(scratch, { recursive: true });
console.log("| run | storage reads | bytes read | read time (CPU) | export time | export peak RSS |");
console.log("|---|---|---|---|---|---|");
for (let r = 0; r < runs; r++) {
  const v = await readView(scratch);
  if (v.sha !== want) throw new Error(`viewChunks: SHA-256 ${v.sha}, torch's .contiguous() ${want}`);
  const out = join(values.dir, "out");
  await rm(out, { recursive: true, force: true });
  const e = await timed("export", process.execPath, [bin, "export", ckpt, out, "--quiet"]);
  const got = await exportedSha(out);
  if (got !== want) throw new Error(`export: SHA-256 ${got}, torch's .contiguous() ${want}`);
  console.log(`| ${r + 1} | ${v.reads} | ${v.bytes} | ${v.seconds.toFixed(2)} s (${v.cpu.toFixed(2)} s) | ${e.seconds.toFixed(2)} s | ${mb(e.peakRss)} |`);
}
