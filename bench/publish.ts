/**
 * Publish benchmark (issue 5): `truecast publish` (publishFolder) of 2 × 1 GB safetensors shards + config.json
 * + index to the Hub double, against a plain node:http PUT of the same files to the same double's LFS upload
 * endpoint, in the same run, alternating. The double runs in a process of its own; each client runs in a process
 * of its own under /usr/bin/time (wall time, peak RSS). Before every run the double forgets the objects it stores,
 * so nothing is skipped. Prints a Markdown table.
 *
 *   npm run build && node dist/bench/publish.js [--dir /tmp/truecast-bench-publish] [--gb 1] [--shards 2] [--runs 3]
 *     [--double '{"multipartThreshold":8388608}'] [--concurrency 3] [--keep]
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { listFolderFiles } from "../src/hub/folder-files.js";
import { sha256File } from "../src/hub/file-hash.js";
import { machine, mb, median, writeBenchModel } from "./lib.js";
import type { PublishJob, PutJob } from "./publish-client.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "/tmp/truecast-bench-publish" },
    gb: { type: "string", default: "1" },
    shards: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    double: { type: "string", default: "{}" },
    concurrency: { type: "string" },
    keep: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const shards = Number(values.shards);
const here = dirname(fileURLToPath(import.meta.url));
/** Under tsx the helpers are .ts files and need the tsx loader; compiled, they are plain .js. */
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const nodeArgs = ext === ".ts" ? ["--import", "tsx"] : [];
const TOKEN = "hf_write";

/** 4096×4096 bfloat16 tensors: whole tensors per shard, at least `gb` GB per shard. */
const WIDTH = 4096;
const TENSOR_BYTES = WIDTH * WIDTH * 2;

interface Run {
  seconds: number;
  peakRss: number;
  /** CPU seconds (user + system) of the client process, and of the double while serving this run. */
  cpu: number;
  serverCpu: number;
}

/** Like lib.ts `timed()`, plus the command's CPU time: wall seconds, peak RSS and user + system seconds. */
function timeCommand(label: string, args: readonly string[]): Promise<Omit<Run, "serverCpu">> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "TIMED %e %M %U %S", process.execPath, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      const m = /TIMED ([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${label} failed (exit ${code}): ${err.slice(-2000)}`));
      resolve({ seconds: Number(m[1]), peakRss: Number(m[2]) * 1024, cpu: Number(m[3]) + Number(m[4]) });
    });
  });
}

interface Server {
  url: string;
  storageUrl: string;
  ask: (m: { type: string }, answer: string) => Promise<Record<string, unknown>>;
}

async function startServer(options: string): Promise<Server> {
  const child: ChildProcess = fork(join(here, `publish-server${ext}`), [options], { execArgv: nodeArgs, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waitFor = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(m);
      };
      const onExit = (code: number | null) => reject(new Error(`the Hub double exited (${code}) before answering ${type}`));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const ready = await waitFor("ready");
  return {
    url: String(ready.url),
    storageUrl: String(ready.storageUrl),
    ask: (m, answer) => {
      const p = waitFor(answer);
      child.send(m);
      return p;
    },
  };
}

const dir = values.dir;
const model = join(dir, "model");
const gb = Number(values.gb);
const perShard = Math.ceil((gb * 1e9) / TENSOR_BYTES);
console.log(`machine: ${machine()}; ${new Date().toISOString()}`);
console.log(`writing ${shards} bfloat16 shards of ${perShard} ${WIDTH}×${WIDTH} tensors (${(perShard * TENSOR_BYTES / 1e9).toFixed(2)} GB each) to ${model}`);
await writeBenchModel({ dir: model, dtype: "BF16", totalBytes: shards * perShard * TENSOR_BYTES, shardBytes: perShard * TENSOR_BYTES, width: WIDTH });
const local = await listFolderFiles(model);
const totalBytes = local.reduce((s, f) => s + f.size, 0);
const files: PutJob["files"] = [];
for (const f of local) files.push({ path: f.localPath, oid: await sha256File(f.localPath), size: f.size });
console.log(`${local.length} files, ${totalBytes} bytes: ${local.map((f) => `${f.pathInRepo} (${f.size})`).join(", ")}`);

const server = await startServer(values.double);
const putJob = join(dir, "put.json");
await writeFile(putJob, JSON.stringify({ storageUrl: server.storageUrl, files } satisfies PutJob));
const client = join(here, `publish-client${ext}`);

/** The double's CPU time since the previous reset, and every stored object forgotten for the next run. */
async function reset(): Promise<number> {
  return Number((await server.ask({ type: "reset" }, "reset-done")).cpuSeconds);
}

async function publishRun(i: number): Promise<Run> {
  const job: PublishJob = { folder: model, repoId: `acme/bench-${i}`, token: TOKEN, endpoint: server.url, out: join(dir, `publish-${i}.out.json`) };
  if (values.concurrency !== undefined) job.concurrency = Number(values.concurrency);
  const jobPath = join(dir, `publish-${i}.json`);
  await writeFile(jobPath, JSON.stringify(job));
  const t = { ...(await timeCommand("truecast publish", [...nodeArgs, client, "publish", jobPath])), serverCpu: await reset() };
  const out = JSON.parse(await readFile(job.out, "utf8")) as { bytesSent: number; summary: string; trace: string[] };
  const lfsBytes = local.filter((f) => f.pathInRepo.endsWith(".safetensors")).reduce((s, f) => s + f.size, 0);
  if (out.bytesSent < lfsBytes) throw new Error(`publish run ${i} sent ${out.bytesSent} bytes, fewer than the ${lfsBytes} of the shards: something was skipped`);
  console.log(`  publish ${i}: ${describe(t)}; ${out.summary}`);
  if (values.trace) console.log(`    ${out.trace.join("\n    ")}`);
  return t;
}

async function putRun(i: number): Promise<Run> {
  const t = { ...(await timeCommand("node:http PUT", [...nodeArgs, client, "put", putJob])), serverCpu: await reset() };
  console.log(`  put ${i}: ${describe(t)}`);
  return t;
}

function describe(r: Run): string {
  return `${r.seconds.toFixed(2)} s, ${mb(r.peakRss)}, client CPU ${r.cpu.toFixed(2)} s, double CPU ${r.serverCpu.toFixed(2)} s`;
}

const as: Run[] = [];
const bs: Run[] = [];
await reset();
for (let i = 1; i <= runs; i++) {
  as.push(await publishRun(i));
  bs.push(await putRun(i));
}
const stopped = await server.ask({ type: "stop" }, "stopped");
const serverRss = Number(stopped.maxRssBytes);

const a = { seconds: median(as.map((x) => x.seconds)), peakRss: Math.max(...as.map((x) => x.peakRss)) };
const b = { seconds: median(bs.map((x) => x.seconds)), peakRss: Math.max(...bs.map((x) => x.peakRss)) };
const rate = (s: number) => `${(totalBytes / s / 1e6).toFixed(0)} MB/s`;
const ratio = b.seconds / a.seconds;
const doubleOpts = values.double === "{}" ? "default double (8 MiB multipart parts)" : `double ${values.double}`;
const rows = [
  "| run | truecast publish | peak RSS | plain node:http PUT | peak RSS | throughput ratio | target |",
  "|---|---|---|---|---|---|---|",
  `| ${shards} × ${(perShard * TENSOR_BYTES / 1e9).toFixed(2)} GB shards + config + index, ${doubleOpts}, median of ${runs} | ${a.seconds.toFixed(2)} s (${rate(a.seconds)}) | ${mb(a.peakRss)} | ${b.seconds.toFixed(2)} s (${rate(b.seconds)}) | ${mb(b.peakRss)} | ${ratio.toFixed(2)}× | ≥ 0.7×, ≤ 300 MB |`,
];
console.log(`\nall runs (s): publish ${as.map((x) => x.seconds.toFixed(2)).join(", ")}; put ${bs.map((x) => x.seconds.toFixed(2)).join(", ")}`);
console.log(`Hub double process peak RSS: ${mb(serverRss)}`);
console.log("\n" + rows.join("\n"));
if (!values.keep) await rm(dir, { recursive: true, force: true });
else if (existsSync(model)) console.log(`kept ${model} (${(await stat(model)).isDirectory() ? "folder" : "?"})`);
