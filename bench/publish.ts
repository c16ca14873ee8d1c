/**
 * Publish benchmark (issue 5): `truecast publish` (publishFolder) of 2 × 1 GB safetensors shards + config.json
 * + index to the Hub double, against a plain node:http PUT of the same files (fs.createReadStream piped into
 * http.request, one file after the other) to the same double's LFS upload endpoint, in the same run, alternating.
 *
 * The double runs in a process of its own; each client runs in a process of its own under /usr/bin/time (wall
 * time, peak RSS, CPU time). Before every run the double forgets the objects it stores, and each publish goes to
 * a new repo, so nothing is skipped. Each `--double` configuration gets its own double and its own row:
 * by default the double as the tests use it (multipart above 8 MiB, 8 MiB parts) and one that answers every
 * upload with a single PUT. Each run also times the bound a publish can reach: the sha256 of the first file it
 * sends to LFS (no byte of it may leave before), then the same plain PUTs; and, against a multipart double, the same
 * hash followed by the bytes sent through the double's LFS protocol by the plainest client (publish-client.ts
 * hash-lfs): the multipart double does more per byte than for a plain PUT (it writes parts at their offsets and reads
 * them back to hash the object), and no client can avoid that. Prints Markdown rows.
 *
 * `--last-gb` makes the last shard that size instead of `--gb` (as a real model's last shard usually is): the
 * publish sends the smallest LFS file first, so only that file's hash is exposed; the default (equal shards) is the
 * case where the exposed hash is largest.
 *
 *   npm run build && node dist/bench/publish.js [--dir /tmp/truecast-bench-publish] [--gb 1] [--shards 2] [--last-gb 0.25]
 *     [--runs 3] [--double '{}' --double '{"multipartThreshold":1e12}'] [--concurrency 3] [--keep] [--trace]
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { listFolderFiles, type LocalFile } from "../src/hub/folder-files.js";
import { sha256File } from "../src/hub/file-hash.js";
import { machine, mb, median, writeBenchModel } from "./lib.js";
import type { PublishJob, PutJob } from "./publish-client.js";
import { startDoubleProcess, timeCommand, type DoubleProcess, type Run } from "./publish-double.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-bench-publish" },
    gb: { type: "string", default: "1" },
    shards: { type: "string", default: "2" },
    /** Size of the last shard (default: --gb, every shard the same size). */
    "last-gb": { type: "string" },
    runs: { type: "string", default: "3" },
    double: { type: "string", multiple: true },
    concurrency: { type: "string" },
    /** Keep the model folder (and reuse one of the same size next time). */
    keep: { type: "boolean", default: false },
    /** Print where each publish spends its time (phases and file states, seconds since start). */
    trace: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const shards = Number(values.shards);
const doubles = values.double ?? ["{}", '{"multipartThreshold":1e12}'];
const here = dirname(fileURLToPath(import.meta.url));
/** Under tsx the helpers are .ts files and need the tsx loader; compiled, they are plain .js. */
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const nodeArgs = ext === ".ts" ? ["--import", "tsx"] : [];
const client = join(here, `publish-client${ext}`);
const TOKEN = "hf_write";

/** 4096×4096 bfloat16 tensors, whole tensors per shard, at least `gb` GB per shard. */
const WIDTH = 4096;
const TENSOR_BYTES = WIDTH * WIDTH * 2;

const dir = values.dir;
const model = join(dir, "model");
const perShard = Math.ceil((Number(values.gb) * 1e9) / TENSOR_BYTES);
const shardBytes = perShard * TENSOR_BYTES;
const perLastShard = values["last-gb"] === undefined ? perShard : Math.min(perShard, Math.max(1, Math.ceil((Number(values["last-gb"]) * 1e9) / TENSOR_BYTES)));
const lastShardBytes = perLastShard * TENSOR_BYTES;
/** What the rows call the model. */
const shape = perLastShard === perShard
  ? `${shards} × ${(shardBytes / 1e9).toFixed(2)} GB shards`
  : `${shards - 1} × ${(shardBytes / 1e9).toFixed(2)} GB + ${(lastShardBytes / 1e9).toFixed(2)} GB shards`;
console.log(`machine: ${machine()}; ${new Date().toISOString()}`);

async function modelFiles(): Promise<LocalFile[] | null> {
  if (!existsSync(model)) return null;
  const local = await listFolderFiles(model);
  const shardSizes = local.filter((f) => f.pathInRepo.endsWith(".safetensors")).map((f) => f.size);
  // Each shard is its tensors plus a header of under 1 MB.
  const wanted = Array.from({ length: shards }, (_, i) => (i === shards - 1 ? lastShardBytes : shardBytes));
  return shardSizes.length === shards && shardSizes.every((s, i) => s > (wanted[i] ?? 0) && s < (wanted[i] ?? 0) + 1e6) ? local : null;
}

let local = values.keep ? await modelFiles() : null;
if (local === null) {
  console.log(`writing ${shape} of bfloat16 ${WIDTH}×${WIDTH} tensors to ${model}`);
  await writeBenchModel({ dir: model, dtype: "BF16", totalBytes: (shards - 1) * shardBytes + lastShardBytes, shardBytes, width: WIDTH });
  local = await listFolderFiles(model);
}
const totalBytes = local.reduce((s, f) => s + f.size, 0);
const lfsBytes = local.filter((f) => f.pathInRepo.endsWith(".safetensors")).reduce((s, f) => s + f.size, 0);
const files: PutJob["files"] = [];
for (const f of local) files.push({ path: f.localPath, oid: await sha256File(f.localPath), size: f.size });
console.log(`${local.length} files, ${totalBytes} bytes: ${local.map((f) => `${f.pathInRepo} (${f.size})`).join(", ")}`);

function describe(r: Run): string {
  return `${r.seconds.toFixed(2)} s, ${mb(r.peakRss)}, client CPU ${r.cpu.toFixed(2)} s, double CPU ${r.serverCpu.toFixed(2)} s`;
}

/**
 * Before each timed run: write back the dirty pages the previous run left (2 GB of objects in the double's store),
 * so that no run pays for the writeback of another's bytes.
 */
function settle(): void {
  execFileSync("sync");
}

async function publishRun(double: DoubleProcess, i: number): Promise<Run> {
  const job: PublishJob = { folder: model, repoId: `acme/bench-${i}`, token: TOKEN, endpoint: double.url, out: join(dir, `publish-${i}.out.json`) };
  if (values.concurrency !== undefined) job.concurrency = Number(values.concurrency);
  const jobPath = join(dir, `publish-${i}.json`);
  await writeFile(jobPath, JSON.stringify(job));
  settle();
  const t: Run = { ...(await timeCommand("truecast publish", process.execPath, [...nodeArgs, client, "publish", jobPath])), serverCpu: await double.reset() };
  const out = JSON.parse(await readFile(job.out, "utf8")) as { bytesSent: number; summary: string; trace: string[] };
  if (out.bytesSent < lfsBytes) throw new Error(`publish run ${i} sent ${out.bytesSent} bytes, fewer than the ${lfsBytes} of the shards: something was skipped`);
  console.log(`  publish ${i}: ${describe(t)}; ${out.summary}`);
  if (values.trace) console.log(`    ${out.trace.join("\n    ")}`);
  return t;
}

/**
 * `mode` "put": the reference; "hash-put": the bound (the first LFS file's sha256, then the same PUTs); "hash-lfs":
 * the bound through the double's LFS protocol (the same hash, then batch calls and what they ask for, to a new repo).
 */
async function putRun(double: DoubleProcess, putJob: string, i: number, mode: "put" | "hash-put" | "hash-lfs" = "put"): Promise<Run> {
  if (mode === "hash-lfs") {
    const job = JSON.parse(await readFile(putJob, "utf8")) as PutJob;
    job.hub = { url: double.url, token: TOKEN, repoId: `acme/bound-${i}` };
    putJob = join(dir, "put-lfs.json");
    await writeFile(putJob, JSON.stringify(job));
  }
  settle();
  const t: Run = { ...(await timeCommand(`node:http ${mode}`, process.execPath, [...nodeArgs, client, mode, putJob])), serverCpu: await double.reset() };
  console.log(`  ${mode} ${i}: ${describe(t)}`);
  return t;
}

const pick = (xs: Run[]) => ({
  seconds: median(xs.map((x) => x.seconds)),
  peakRss: Math.max(...xs.map((x) => x.peakRss)),
  cpu: median(xs.map((x) => x.cpu)),
  serverCpu: median(xs.map((x) => x.serverCpu)),
});
const rate = (s: number) => `${(totalBytes / s / 1e6).toFixed(0)} MB/s`;
const rows: string[] = [];
const notes: string[] = [];
for (const options of doubles) {
  const parsed = JSON.parse(options) as { multipartThreshold?: number; partSize?: number };
  const what = (parsed.multipartThreshold ?? 0) >= totalBytes ? "single PUT per file" : `multipart, ${((parsed.partSize ?? 8 * 2 ** 20) / 2 ** 20).toFixed(0)} MiB parts`;
  console.log(`double ${options} (${what})`);
  const double = await startDoubleProcess(join(here, `publish-server${ext}`), nodeArgs, options);
  const putJob = join(dir, "put.json");
  await writeFile(putJob, JSON.stringify({ storageUrl: double.storageUrl, files } satisfies PutJob));
  const as: Run[] = [];
  const bs: Run[] = [];
  const cs: Run[] = [];
  const ds: Run[] = [];
  const multipart = what.startsWith("multipart");
  await double.reset();
  for (let i = 1; i <= runs; i++) {
    as.push(await publishRun(double, i));
    bs.push(await putRun(double, putJob, i));
    cs.push(await putRun(double, putJob, i, "hash-put"));
    if (multipart) ds.push(await putRun(double, putJob, i, "hash-lfs"));
  }
  const serverRss = await double.stop();
  const a = pick(as);
  const b = pick(bs);
  const c = pick(cs);
  rows.push(
    `| ${shape} + config + index, double: ${what}, median of ${runs} | ${a.seconds.toFixed(2)} s (${rate(a.seconds)}) | ${mb(a.peakRss)} | ` +
      `${b.seconds.toFixed(2)} s (${rate(b.seconds)}) | ${mb(b.peakRss)} | ${(b.seconds / a.seconds).toFixed(2)}× | ≥ 0.9×, ≤ 200 MB (issue 13) |`,
  );
  notes.push(
    `- double: ${what}: all runs publish ${as.map((x) => x.seconds.toFixed(2)).join(", ")} s, PUT ${bs.map((x) => x.seconds.toFixed(2)).join(", ")} s; ` +
      `median CPU: publish client ${a.cpu.toFixed(2)} s + double ${a.serverCpu.toFixed(2)} s, PUT client ${b.cpu.toFixed(2)} s + double ${b.serverCpu.toFixed(2)} s; double peak RSS ${mb(serverRss)}`,
    `  bound (the first LFS file's sha256, which no publish can send a byte before, then the same PUTs): ${cs.map((x) => x.seconds.toFixed(2)).join(", ")} s, ` +
      `median ${c.seconds.toFixed(2)} s, client CPU ${c.cpu.toFixed(2)} s: PUT / bound = ${(b.seconds / c.seconds).toFixed(2)}× (the best ratio a publish can reach here); publish reaches ${(c.seconds / a.seconds).toFixed(2)}× the bound`,
  );
  if (multipart) {
    const d = pick(ds);
    notes.push(
      `  bound through the double's LFS protocol (the same hash, then batch, parts 5 at a time, completion, by a plain node:http client): ${ds.map((x) => x.seconds.toFixed(2)).join(", ")} s, ` +
        `median ${d.seconds.toFixed(2)} s, client CPU ${d.cpu.toFixed(2)} s, double CPU ${d.serverCpu.toFixed(2)} s: PUT / this bound = ${(b.seconds / d.seconds).toFixed(2)}×; publish reaches ${(d.seconds / a.seconds).toFixed(2)}× it`,
    );
  }
}
console.log("\n| run | truecast publish | peak RSS | plain node:http PUT | peak RSS | throughput ratio | target |");
console.log("|---|---|---|---|---|---|---|");
console.log(rows.join("\n"));
console.log("\n" + notes.join("\n"));
if (!values.keep) await rm(dir, { recursive: true, force: true });
