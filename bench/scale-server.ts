/**
 * The Hub double of bench/scale.ts, in a process of its own: it serves the generated model (bench/scale-model.ts)
 * as `bench/llama-2-70b` without storing it, and takes uploads as a sink (hashed, dropped, first bytes kept for the
 * header check). Started with `fork()`; talks over the IPC channel as bench/publish-server.ts does:
 *   → { type: "ready", url, storageUrl, token, repo, shards: [{ name, size, oid }], small: [name] }
 *   ← { type: "reset" }   → { type: "reset-done", cpuSeconds, received }   forget the pushed repo and the objects
 *                                                   the sink took (so the next run uploads everything); received:
 *                                                   the uploads the sink completed since the last reset, with the
 *                                                   sha256 it computed; cpuSeconds: this process's CPU since then
 *   ← { type: "stop" }    → { type: "stopped", maxRssBytes }
 *
 *   argv[2]: JSON { shape: LlamaShape, cacheDir, keepBytes, multipartThreshold?, partSize? }
 */
import { startHubDouble } from "../test/support/hub-double.js";
import type { VirtualObject } from "../test/support/hub-double-store.js";
import { generateModel, shardChunks, shardDigests, type LlamaShape } from "./scale-model.js";

export const SCALE_TOKEN = "hf_bench";
export const SCALE_SOURCE = "bench/llama-2-70b";
export const SCALE_TARGET = "bench/out";

export interface ScaleServerOptions {
  shape: LlamaShape;
  cacheDir: string;
  keepBytes: number;
  multipartThreshold?: number;
  partSize?: number;
}

const send = (m: unknown) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

const options = JSON.parse(process.argv[2] ?? "{}") as ScaleServerOptions;
const model = generateModel(options.shape);
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
      // The raw PUT uploads the source's own shards: those stay (served from the generator).
      for (const oid of double.state.heads.keys()) if (!double.state.virtual.has(oid)) double.state.objects.delete(oid);
      double.state.heads.clear();
      double.requests.splice(0);
      const received = double.sink?.received.splice(0) ?? [];
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      await send({ type: "reset-done", cpuSeconds: (cpu.user + cpu.system) / 1e6, received });
    } else if (m.type === "stop") {
      await double.stop();
      await send({ type: "stopped", maxRssBytes: process.resourceUsage().maxRSS * 1024 });
      process.exit(0);
    }
  })();
});
