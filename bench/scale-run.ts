/**
 * The machinery of bench/scale.ts (and of its test at a tiny size): start the scale double (bench/scale-server.ts),
 * measure in the same run its raw range-read and PUT speeds with plain clients (bench/scale-client.ts), and run
 * `truecast export hf://bench/llama-2-70b <out> --push bench/out` under /usr/bin/time while sampling the disk use of
 * its working folder; then check what the sink received against what truecast reports having published.
 */
import { openSync, closeSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SinkReceived } from "../test/support/hub-double-sink.js";
import { startDoubleProcess, timeCommand, type Run } from "./publish-double.js";
import type { ScaleClientJob } from "./scale-client.js";
import { generateModel, type LlamaShape, type ScaleFormat } from "./scale-model.js";
import type { ScalePullRequest, ScaleServerOptions } from "./scale-server.js";

/** Disk use of `dir` (every file's allocated blocks, recursively; links not followed), bytes; 0 when it is gone. */
export async function diskUse(dir: string): Promise<number> {
  let total = 0;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      const s = await lstat(p);
      total += s.isDirectory() ? await diskUse(p) : s.blocks * 512;
    } catch {
      // removed while it was being counted
    }
  }
  return total;
}

/**
 * Samples {@link diskUse} of `dir` every `everyMs` until stopped; stop() takes one last sample and gives the peak.
 * sample() takes one now (or joins the one under way).
 */
export function sampleDiskUse(dir: string, everyMs = 500): { sample: () => Promise<void>; stop: () => Promise<{ peak: number; samples: number }> } {
  let peak = 0;
  let samples = 0;
  let busy: Promise<void> | null = null;
  const sample = (): Promise<void> =>
    (busy ??= diskUse(dir).then((n) => {
      peak = Math.max(peak, n);
      samples++;
      busy = null;
    }));
  const timer = setInterval(() => void sample(), everyMs);
  void sample();
  return {
    sample,
    stop: async () => {
      clearInterval(timer);
      await busy;
      await sample();
      return { peak, samples };
    },
  };
}

export interface ScaleOptions {
  shape: LlamaShape;
  /**
   * The source repo's form (default "safetensors", pushed to another repo); "bin" (the torch.save pickles) is
   * converted as issue 12 asks: pushed to the source repo itself, `--create-pr --replace-weights`.
   */
  format?: ScaleFormat;
  /** Working folder: job files, the export's output folder (sampled), the digest cache. */
  dir: string;
  /** `--max-shard-size` of the export, as the CLI takes it (decimal units). */
  maxShardSize: string;
  runs: number;
  /** Measure the raw read and PUT before each conversion (default true); false: the conversion alone. */
  raw?: boolean;
  /** Range size of the raw read (default 64 MiB). */
  rangeBytes?: number;
  /** Bytes of each uploaded object the sink keeps (default 1 MiB). */
  keepBytes?: number;
  /** The sink double's multipart threshold and part size (default the double's: 8 MiB and 8 MiB). */
  multipartThreshold?: number;
  partSize?: number;
  /** Write a V8 CPU profile of each conversion (node --cpu-prof) into this folder. */
  cpuProfileDir?: string;
  /** Where the digests of generated shards are cached (default `dir`). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface ConversionRun extends Run {
  /** Peak disk use of the export's working folder, bytes, and how many samples were taken. */
  peakDisk: number;
  diskSamples: number;
  /** Two of the largest shard plus the small files: the most the working folder may hold. */
  diskLimit: number;
  /** The largest shard truecast wrote, bytes. */
  largestShard: number;
  /** LFS files published, each checked against the sha256 the sink computed. */
  shardsChecked: number;
  files: number;
  /** The published files (path, size, sha256), as truecast reports them. */
  published: PublishedFile[];
  /** What the conversion read from the double's storage host. */
  reads: SourceReads;
  /** The pull request the pickle form's conversion opened (null for the safetensors form). */
  pullRequest: ScalePullRequest | null;
}

/** GETs of LFS objects served by the double, and the bytes they carried. */
export interface SourceReads {
  requests: number;
  bytes: number;
}

export interface ScaleResult {
  sourceBytes: number;
  shards: number;
  tensors: number;
  read: Run[];
  put: Run[];
  conversion: ConversionRun[];
  serverRss: number;
}

export interface PublishedFile {
  path: string;
  size: number;
  sha256: string;
  lfs: boolean;
}

/** The published files must be exactly what the sink received and hashed in this run; returns the LFS files checked. */
function checkReceived(files: readonly PublishedFile[], received: readonly SinkReceived[]): number {
  const byOid = new Map(received.map((r) => [r.oid, r]));
  let checked = 0;
  for (const f of files.filter((x) => x.lfs)) {
    const r = byOid.get(f.sha256);
    if (!r) throw new Error(`${f.path}: truecast reports sha256 ${f.sha256}, but the sink received no upload of it in this run`);
    if (r.sha256 !== f.sha256 || r.bytes !== f.size) throw new Error(`${f.path}: the sink hashed ${r.bytes} bytes to ${r.sha256}, truecast reports ${f.size} bytes with ${f.sha256}`);
    checked++;
  }
  if (received.length !== checked) throw new Error(`the sink completed ${received.length} uploads, truecast published ${checked} LFS files`);
  return checked;
}

/** The pickle form's pull request: one commit that holds the published files and none of the pickles or their index. */
function checkPullRequest(pr: ScalePullRequest | null, files: readonly PublishedFile[]): void {
  if (pr === null) throw new Error("the conversion opened no pull request on the source repo");
  if (pr.commits !== 1) throw new Error(`the pull request holds ${pr.commits} commits, not one`);
  const stale = Object.keys(pr.files).filter((p) => /\.bin$|^pytorch_model\.bin\.index\.json$/.test(p));
  if (stale.length > 0) throw new Error(`the pull request still holds ${stale.join(", ")}`);
  for (const f of files) if (f.lfs && pr.files[f.path] !== f.sha256) throw new Error(`${f.path}: not in the pull request with sha256 ${f.sha256}`);
}

export async function runScaleBench(o: ScaleOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => undefined);
  const here = dirname(fileURLToPath(import.meta.url));
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const nodeArgs = ext === ".ts" ? ["--import", "tsx"] : [];
  const cli = join(here, "..", "src", "cli", `main${ext}`);
  const client = join(here, `scale-client${ext}`);
  const work = join(o.dir, "work");
  await mkdir(o.dir, { recursive: true });

  const format = o.format ?? "safetensors";
  const serverOptions: ScaleServerOptions = { shape: o.shape, format, cacheDir: o.cacheDir ?? o.dir, keepBytes: o.keepBytes ?? 2 ** 20,
    ...(o.multipartThreshold !== undefined && { multipartThreshold: o.multipartThreshold }),
    ...(o.partSize !== undefined && { partSize: o.partSize }),
  };
  const double = await startDoubleProcess(join(here, `scale-server${ext}`), nodeArgs, JSON.stringify(serverOptions));
  try {
    const ready = double.ready as { url: string; storageUrl: string; token: string; repo: string; shards: Array<{ name: string; size: number; oid: string }> };
    const sourceBytes = ready.shards.reduce((n, s) => n + s.size, 0);
    const job: ScaleClientJob = {
      storageUrl: ready.storageUrl, shape: o.shape, format, oids: Object.fromEntries(ready.shards.map((s) => [s.name, s.oid])),
      rangeBytes: o.rangeBytes ?? 64 * 2 ** 20, out: join(o.dir, "client.out.json"),
    };
    const jobPath = join(o.dir, "client.json");
    await writeFile(jobPath, JSON.stringify(job));
    const reset = async () => double.ask("reset", "reset-done") as Promise<{ cpuSeconds: number; received: SinkReceived[]; pr: ScalePullRequest | null; reads: SourceReads }>;
    await reset();

    const client1 = async (mode: "read" | "put"): Promise<Run> => {
      const t = await timeCommand(`raw ${mode}`, process.execPath, [...nodeArgs, client, mode, jobPath]);
      const r = await reset();
      const { bytes } = JSON.parse(await readFile(job.out, "utf8")) as { bytes: number };
      if (bytes !== sourceBytes) throw new Error(`raw ${mode} moved ${bytes} bytes, not the ${sourceBytes} of the model`);
      if (mode === "put" && r.received.some((x) => x.sha256 !== x.oid)) throw new Error("raw put: the sink hashed other bytes than the model's");
      log(`  raw ${mode}: ${t.seconds.toFixed(1)} s, ${(sourceBytes / t.seconds / 1e6).toFixed(0)} MB/s, client CPU ${t.cpu.toFixed(1)} s, double CPU ${r.cpuSeconds.toFixed(1)} s`);
      return { ...t, serverCpu: r.cpuSeconds };
    };

    const convert = async (i: number): Promise<ConversionRun> => {
      await rm(work, { recursive: true, force: true });
      await mkdir(join(work, "hf-home"), { recursive: true });
      const outJson = join(o.dir, `export-${i}.json`);
      const fd = openSync(outJson, "w");
      const env = {
        PATH: process.env.PATH ?? "", HF_TOKEN: ready.token, HF_ENDPOINT: ready.url, HF_HOME: join(work, "hf-home"),
        // Node options for the export alone (a memory sampler preloaded with --import, --cpu-prof), and what they read.
        ...(process.env.TRUECAST_BENCH_NODE_OPTIONS && { NODE_OPTIONS: process.env.TRUECAST_BENCH_NODE_OPTIONS }),
        ...(process.env.MEMLOG && { MEMLOG: process.env.MEMLOG }),
      };
      const args = [cli, "export", `hf://${ready.repo}`, join(work, "out"), ...(format === "bin" ? ["--push", ready.repo, "--create-pr", "--replace-weights"] : ["--push", "bench/out"]), "--max-shard-size", o.maxShardSize, "--endpoint", ready.url, "--json"];
      const sampler = sampleDiskUse(work);
      let t;
      try {
        t = await timeCommand("truecast export --push", process.execPath, [...nodeArgs, ...(o.cpuProfileDir !== undefined ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProfileDir] : []), ...args], { stdout: fd, env });
      } finally {
        closeSync(fd);
      }
      const disk = await sampler.stop();
      const r = await reset();
      const report = JSON.parse(await readFile(outJson, "utf8")) as { published?: { files: PublishedFile[] } };
      const files = report.published?.files;
      if (!files) throw new Error(`conversion ${i}: the report in ${outJson} has no "published" section`);
      const shardsChecked = checkReceived(files, r.received);
      const largestShard = Math.max(...files.filter((f) => f.path.endsWith(".safetensors")).map((f) => f.size));
      // The bound truecast promises: two shards at a time, beside the small files it writes at the end (each
      // counted in whole 4 KiB blocks, as the disk holds them).
      const smallFiles = files.filter((f) => !f.path.endsWith(".safetensors")).reduce((n, f) => n + Math.ceil(f.size / 4096) * 4096, 0);
      const diskLimit = 2 * (Math.ceil(largestShard / 4096) * 4096) + smallFiles;
      if (format === "bin") checkPullRequest(r.pr, files);
      const run: ConversionRun = {
        ...t, serverCpu: r.cpuSeconds, peakDisk: disk.peak, diskSamples: disk.samples, diskLimit, largestShard, shardsChecked, files: files.length, published: files, pullRequest: r.pr, reads: r.reads,
      };
      log(
        `  conversion ${i}: ${t.seconds.toFixed(1)} s, ${(sourceBytes / t.seconds / 1e6).toFixed(0)} MB/s, peak RSS ${(t.peakRss / 1e6).toFixed(0)} MB, ` +
          `peak disk ${(disk.peak / 1e9).toFixed(2)} GB (${disk.samples} samples; largest shard ${(largestShard / 1e9).toFixed(2)} GB), ` +
          `CPU ${t.cpu.toFixed(1)} s + double ${r.cpuSeconds.toFixed(1)} s; ${shardsChecked} shards' sha256 checked by the sink; ` +
          `source reads: ${r.reads.requests} GETs, ${(r.reads.bytes / 1e9).toFixed(3)} GB (${(r.reads.bytes / sourceBytes).toFixed(4)}× the repo)`,
      );
      return run;
    };

    const result: ScaleResult = { sourceBytes, shards: ready.shards.length, tensors: generateModel(o.shape).shards.reduce((n, s) => n + s.tensors.length, 0), read: [], put: [], conversion: [], serverRss: 0 };
    for (let i = 1; i <= o.runs; i++) {
      if (o.raw !== false) {
        result.read.push(await client1("read"));
        result.put.push(await client1("put"));
      }
      result.conversion.push(await convert(i));
    }
    await rm(work, { recursive: true, force: true });
    result.serverRss = await double.stop();
    return result;
  } catch (e) {
    await double.stop().catch(() => undefined);
    throw e;
  }
}
