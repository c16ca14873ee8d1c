/**
 * The Hub double of bench/scale.ts, in a process of its own: it serves the generated model (bench/scale-model.ts)
 * as `bench/llama-2-70b` without storing it, and takes uploads as a sink (hashed, dropped, first bytes kept for the
 * header check). Started with `fork()`; talks over the IPC channel as bench/publish-server.ts does:
 *   → { type: "ready", url, storageUrl, token, repo, shards: [{ name, size, oid }], small: [name] }
 *   ← { type: "reset" }   → { type: "reset-done", cpuSeconds, received, pr }   forget the pushed repo and the objects
 *                                                   the sink took (so the next run uploads everything); received:
 *                                                   the uploads the sink completed since the last reset, with the
 *                                                   sha256 it computed; cpuSeconds: this process's CPU since then;
 *                                                   pr: the source repo's first pull request, if any: the commits
 *                                                   between it and main, and its files (path → LFS oid or null);
 *                                                   reads: GETs of LFS objects from the storage host and the bytes
 *                                                   they served
 *   ← { type: "stop" }    → { type: "stopped", maxRssBytes }
 *
 *   argv[2]: JSON { shape: LlamaShape, format?, cacheDir, keepBytes, multipartThreshold?, partSize? }
 *
 * With `format: "bin"` the repo holds the pickle form (pytorch_model-000NN-of-000MM.bin + index); the conversion
 * then pushes to the source repo itself as a pull request (--create-pr --replace-weights), and a reset drops the
 * pull requests instead of a target repo.
 */
import { startHubDouble } from "../test/support/hub-double.js";
import type { VirtualObject } from "../test/support/hub-double-store.js";
import { generateModel, shardChunks, shardDigests, type LlamaShape, type ScaleFormat } from "./scale-model.js";

export const SCALE_TOKEN = "hf_bench";
export const SCALE_SOURCE = "bench/llama-2-70b";
export const SCALE_TARGET = "bench/out";

export interface ScaleServerOptions {
  shape: LlamaShape;
  /** Default "safetensors". */
  format?: ScaleFormat;
  cacheDir: string;
  keepBytes: number;
  multipartThreshold?: number;
  partSize?: number;
}

/** A pull request on the source repo, as a reset reports it. */
export interface ScalePullRequest {
  /** Commits from main's head to the pull request's head. */
  commits: number;
  /** Every file of the pull request's head: path → LFS oid, or null for a regular file. */
  files: Record<string, string | null>;
}

const send = (m: unknown) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

const options = JSON.parse(process.argv[2] ?? "{}") as ScaleServerOptions;
const model = generateModel(options.shape, { format: options.format ?? "safetensors" });
const oids = await shardDigests(model, options.cacheDir, (s) => console.log(s));
const double = await startHubDouble({
  tokens: { [SCALE_TOKEN]: { user: "bench", write: true } },
  sink: { keepBytes: options.keepBytes },
  ...(options.multipartThreshold !== undefined && { multipartThreshold: options.multipartThreshold }),
  ...(options.partSize !== undefined && { partSize: options.partSize }),
});
const files: Record<string, Uint8Array | VirtualObject> = { ...model.small };
for (const s of model.shards) files[s.name] = { size: s.size, sha256: oids.get(s.name) ?? "", chunks: (a, b) => shardChunks(s, a, b) };
await double.state.seed(SCALE_SOURCE, files);
await send({
  type: "ready", url: double.url, storageUrl: double.storageUrl, token: SCALE_TOKEN, repo: SCALE_SOURCE,
  shards: model.shards.map((s) => ({ name: s.name, size: s.size, oid: oids.get(s.name) })), small: Object.keys(model.small),
});

let lastCpu = process.cpuUsage();
process.on("message", (m: { type: string }) => {
  void (async () => {
    if (m.type === "reset") {
      double.state.repos.delete(SCALE_TARGET);
      // The pickle form's conversion is a pull request on the source repo: drop them, main stays as seeded.
      const source = double.state.repos.get(SCALE_SOURCE);
      let pr: ScalePullRequest | null = null;
      const head = source?.refs.get("refs/pr/1");
      if (source && head !== undefined) {
        const main = source.refs.get("main");
        let commits = 0;
        for (let id: string | null = head; id !== null && id !== main; id = source.commits.get(id)?.parent ?? null) commits++;
        const files = source.commits.get(head)?.files ?? new Map();
        pr = { commits, files: Object.fromEntries([...files].map(([path, f]) => [path, f.kind === "lfs" ? f.oid : null])) };
      }
      if (source) {
        for (const ref of [...source.refs.keys()]) if (ref !== "main") source.refs.delete(ref);
        const keep = new Set<string>();
        for (let id = source.refs.get("main") ?? null; id !== null; id = source.commits.get(id)?.parent ?? null) keep.add(id);
        for (const id of [...source.commits.keys()]) if (!keep.has(id)) source.commits.delete(id);
        source.prCount = 0;
      }
      // The raw PUT uploads the source's own shards: those stay (served from the generator).
      for (const oid of double.state.heads.keys()) if (!double.state.virtual.has(oid)) double.state.objects.delete(oid);
      double.state.heads.clear();
      const gets = double.requests.splice(0).filter((r) => r.server === "storage" && r.method === "GET");
      const reads = { requests: gets.length, bytes: gets.reduce((n, r) => n + r.bytesSent, 0) };
      const received = double.sink?.received.splice(0) ?? [];
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      await send({ type: "reset-done", cpuSeconds: (cpu.user + cpu.system) / 1e6, received, pr, reads });
    } else if (m.type === "stop") {
      await double.stop();
      await send({ type: "stopped", maxRssBytes: process.resourceUsage().maxRSS * 1024 });
      process.exit(0);
    }
  })();
});
