/**
 * The two clients bench/publish.ts times under /usr/bin/time, each in a process of its own:
 *
 *   publish-client.js publish <job.json>   publishFolder() of a folder to the Hub double (what `truecast publish`
 *                                          does), then writes { bytesSent, files, summary } to job.out
 *   publish-client.js put <job.json>       the reference: a plain node:http PUT of each file, one after the
 *                                          other (fs.createReadStream piped into http.request), to the double's
 *                                          LFS upload endpoint, which hashes and stores the bytes as for a publish
 *   publish-client.js hash-put <job.json>  the bound a publish can reach: the sha256 of the first file a publish
 *                                          sends to LFS (the smallest over 10 MB; the protocol needs it before that
 *                                          file's first byte), then the same plain PUTs
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { pipeline } from "node:stream/promises";
import { publishFolder } from "../src/hub/publish-folder.js";

export interface PublishJob {
  folder: string;
  repoId: string;
  token: string;
  endpoint: string;
  concurrency?: number;
  out: string;
}

export interface PutJob {
  storageUrl: string;
  files: Array<{ path: string; oid: string; size: number }>;
}

async function put(storageUrl: string, file: PutJob["files"][number]): Promise<void> {
  const url = new URL(`/lfs/put/${file.oid}?size=${file.size}`, storageUrl);
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { method: "PUT", headers: { "Content-Length": String(file.size) } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${file.path}: HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    // 1 MiB reads, as the publish path reads its files, so that the reference is not slowed by small writes.
    pipeline(createReadStream(file.path, { highWaterMark: 1 << 20 }), req).catch(reject);
  });
}

/** The sha256 of a file read with 2 MiB synchronous reads, as the publish's hashing thread reads it. */
function sha256Sync(path: string): string {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(2 * 1024 * 1024);
  const fd = openSync(path, "r");
  try {
    for (let pos = 0, n = 0; (n = readSync(fd, buf, 0, buf.length, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** Files over this go to LFS whatever the Hub says (upload-session.ts MAX_REGULAR_FILE_BYTES). */
const LFS_FROM_BYTES = 10_000_000;

const [mode, jobPath] = process.argv.slice(2);
if (!jobPath) throw new Error("usage: publish-client.js publish|put <job.json>");
const job = JSON.parse(await readFile(jobPath, "utf8")) as unknown;
if (mode === "publish") {
  const j = job as PublishJob;
  const t0 = performance.now();
  const trace: string[] = [];
  const last = new Map<string, string>();
  const at = () => ((performance.now() - t0) / 1000).toFixed(2);
  const report = await publishFolder({
    folder: j.folder, repoId: j.repoId, token: j.token, endpoint: j.endpoint, concurrency: j.concurrency,
    onProgress: (e) => {
      // Phase changes and each file's state changes, with the time since start: where a run spends its time.
      if (e.type === "phase") trace.push(`${at()} ${e.phase}`);
      else if (e.type === "file" && last.get(e.path) !== e.state) {
        last.set(e.path, e.state);
        trace.push(`${at()} ${e.path} ${e.state}`);
      }
    },
  });
  trace.push(`${at()} returned`);
  await writeFile(j.out, JSON.stringify({ bytesSent: report.bytesSent, files: report.files.length, summary: report.summary, trace }));
} else if (mode === "put" || mode === "hash-put") {
  const j = job as PutJob;
  if (mode === "hash-put") {
    const first = [...j.files].sort((a, b) => a.size - b.size).find((f) => f.size > LFS_FROM_BYTES);
    if (first && sha256Sync(first.path) !== first.oid) throw new Error(`${first.path} changed since the benchmark hashed it`);
  }
  for (const f of j.files) await put(j.storageUrl, f);
} else {
  throw new Error(`unknown mode ${mode}`);
}
