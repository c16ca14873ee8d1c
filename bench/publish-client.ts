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
 *   publish-client.js hash-lfs <job.json>  the same bound through the double's own LFS protocol (needs job.hub): the
 *                                          first LFS file's sha256, then per file one batch call and what it asks
 *                                          for, as plainly as node:http allows (one PUT, or the parts 5 at a time
 *                                          over kept-alive connections and their completion). Against a multipart
 *                                          double this is what any client pays: the double stores 8 MiB parts at
 *                                          their offsets and reads them back to hash the object, work a plain PUT
 *                                          never asks of it
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
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
  /** For hash-lfs: the double's Hub, a write token, and a repo to create (each run its own). */
  hub?: { url: string; token: string; repoId: string };
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

/** One request; the answer's body as text (a non-2xx status is an error). */
function send(url: URL, opts: { method: string; headers?: Record<string, string>; body?: string; file?: { path: string; start: number; end: number }; agent?: Agent }): Promise<{ body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const length = opts.file ? opts.file.end - opts.file.start : Buffer.byteLength(opts.body ?? "");
    const req = request(url, { method: opts.method, headers: { ...opts.headers, "Content-Length": String(length) }, ...(opts.agent && { agent: opts.agent }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${opts.method} ${url.pathname}: HTTP ${res.statusCode} ${body}`));
        else resolve({ body, headers: res.headers });
      });
    });
    req.on("error", reject);
    if (opts.file) {
      if (length === 0) return void req.end();
      const { path, start, end } = opts.file;
      pipeline(createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }), req).catch(reject);
    } else req.end(opts.body ?? "");
  });
}

/** Each file through the double's LFS protocol: a batch call, then its one PUT, or its parts (5 at a time) and completion. */
async function lfsUpload(job: PutJob): Promise<void> {
  const hub = job.hub;
  if (!hub) throw new Error("hash-lfs needs job.hub");
  const auth = { Authorization: `Bearer ${hub.token}` };
  const json = { ...auth, "Content-Type": "application/json" };
  const [ns, name] = hub.repoId.split("/");
  await send(new URL("/api/repos/create", hub.url), { method: "POST", headers: json, body: JSON.stringify({ name, organization: ns, type: "model" }) });
  const agent = new Agent({ keepAlive: true });
  const lfsJson = { ...auth, Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" };
  for (const f of job.files) {
    const batch = await send(new URL(`/${hub.repoId}.git/info/lfs/objects/batch`, hub.url), {
      method: "POST", headers: lfsJson,
      body: JSON.stringify({ operation: "upload", transfers: ["basic", "multipart"], hash_algo: "sha_256", ref: { name: "main" }, objects: [{ oid: f.oid, size: f.size }] }),
    });
    const obj = (JSON.parse(batch.body) as { objects: Array<{ actions?: { upload?: { href: string; header?: Record<string, string> } } }> }).objects[0];
    const upload = obj?.actions?.upload;
    if (!upload) throw new Error(`${f.path}: the double already stores it`);
    const chunk = Number(upload.header?.chunk_size ?? 0);
    if (chunk === 0) {
      await send(new URL(upload.href), { method: "PUT", file: { path: f.path, start: 0, end: f.size }, agent });
      continue;
    }
    const urls = Object.entries(upload.header ?? {}).filter(([k]) => /^[0-9]+$/.test(k)).sort(([a], [b]) => Number(a) - Number(b)).map(([, u]) => u);
    const etags = new Array<string>(urls.length);
    let next = 0;
    const lane = async () => {
      while (next < urls.length) {
        const i = next++;
        const r = await send(new URL(urls[i] as string), { method: "PUT", file: { path: f.path, start: i * chunk, end: Math.min(f.size, (i + 1) * chunk) }, agent });
        etags[i] = String(r.headers.etag);
      }
    };
    await Promise.all(Array.from({ length: Math.min(5, urls.length) }, lane));
    await send(new URL(upload.href), { method: "POST", headers: lfsJson, body: JSON.stringify({ oid: f.oid, parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }) });
  }
  agent.destroy();
}

/** Files over this go to LFS whatever the Hub says (upload-session.ts MAX_REGULAR_FILE_BYTES). */
const LFS_FROM_BYTES = 10_000_000;

const [mode, jobPath] = process.argv.slice(2);
if (!jobPath) throw new Error("usage: publish-client.js publish|put|hash-put|hash-lfs <job.json>");
const job = JSON.parse(await readFile(jobPath, "utf8")) as unknown;
if (mode === "publish") {
  const j = job as PublishJob;
  const t0 = performance.now();
  // performance.now() counts from the process's start: what start-up and imports took before the publish began.
  const trace: string[] = [`${(t0 / 1000).toFixed(2)} s after the process started: publishFolder called`];
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
      } else if (e.type === "file" && e.state === "hashing" && e.bytes === e.total && last.get(e.path) === "hashing") {
        // The hash is done (the upload's first byte waits for it and the LFS batch call).
        last.set(e.path, "hashed");
        trace.push(`${at()} ${e.path} hashed`);
      }
    },
  });
  trace.push(`${at()} returned`);
  await writeFile(j.out, JSON.stringify({ bytesSent: report.bytesSent, files: report.files.length, summary: report.summary, trace }));
} else if (mode === "put" || mode === "hash-put" || mode === "hash-lfs") {
  const j = job as PutJob;
  if (mode !== "put") {
    const first = [...j.files].sort((a, b) => a.size - b.size).find((f) => f.size > LFS_FROM_BYTES);
    if (first && sha256Sync(first.path) !== first.oid) throw new Error(`${first.path} changed since the benchmark hashed it`);
  }
  if (mode === "hash-lfs") await lfsUpload(j);
  else for (const f of j.files) await put(j.storageUrl, f);
} else {
  throw new Error(`unknown mode ${mode}`);
}
