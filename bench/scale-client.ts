/**
 * The plain clients of bench/scale.ts, each run in a process of its own under /usr/bin/time, for the reference
 * speeds of the double:
 *   read <job.json>: GET every shard of the generated model from the storage host by `rangeBytes` ranges, one
 *                    after the other on one keep-alive connection, counting the bytes and dropping them;
 *   put <job.json>:  PUT every shard's bytes (generated here, as the double generates them) to the sink, one
 *                    single PUT per shard with its oid, so the sink hashes and checks them as it does the product's.
 * Writes `{ bytes }` to job.out. Plain node:http: no retries, no checks beyond status and length.
 */
import { Agent, request } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { generateModel, shardChunks, type LlamaShape, type ScaleFormat } from "./scale-model.js";

export interface ScaleClientJob {
  storageUrl: string;
  shape: LlamaShape;
  format: ScaleFormat;
  /** The shards' oids, by name, as the double lists them. */
  oids: Record<string, string>;
  rangeBytes: number;
  out: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string, start: number, end: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { Range: `bytes=${start}-${end - 1}` } }, (res) => {
      if (res.statusCode !== 206) return reject(new Error(`GET ${url} bytes ${start}-${end - 1}: HTTP ${res.statusCode}`));
      let n = 0;
      res.on("data", (c: Buffer) => (n += c.length));
      res.on("end", () => (n === end - start ? resolve(n) : reject(new Error(`GET ${url}: ${n} bytes of ${end - start}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function put(url: string, size: number, chunks: Iterable<Uint8Array>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "PUT", agent, headers: { "Content-Length": String(size), "Content-Type": "application/octet-stream" } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${url}: HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    const it = chunks[Symbol.iterator]();
    const pump = (): void => {
      for (let r = it.next(); !r.done; r = it.next()) if (!req.write(r.value)) return void req.once("drain", pump);
      req.end();
    };
    pump();
  });
}

const [mode, jobPath] = process.argv.slice(2);
const job = JSON.parse(await readFile(jobPath ?? "", "utf8")) as ScaleClientJob;
const model = generateModel(job.shape, { format: job.format });
let bytes = 0;
for (const s of model.shards) {
  const oid = job.oids[s.name] ?? "";
  if (mode === "read") {
    for (let pos = 0; pos < s.size; pos += job.rangeBytes) bytes += await get(`${job.storageUrl}/lfs/get/${oid}`, pos, Math.min(s.size, pos + job.rangeBytes));
  } else if (mode === "put") {
    await put(`${job.storageUrl}/lfs/put/${oid}?size=${s.size}`, s.size, shardChunks(s, 0, s.size));
    bytes += s.size;
  } else {
    throw new Error(`scale-client: unknown mode ${mode}`);
  }
}
await writeFile(job.out, JSON.stringify({ bytes }));
agent.destroy();
