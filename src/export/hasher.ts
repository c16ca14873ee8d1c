import type { Worker } from "node:worker_threads";
import { TruecastError } from "../errors.js";
import { startWorker } from "../util/worker.js";
import type { HashReply, HashTask } from "./hash-protocol.js";

/** Digests (util/digest.ts) of byte ranges of files, computed on a worker thread. One task at a time is enough: tasks are whole shards. */
export class RangeHasher {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (d: string[]) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(import.meta.url, "hash-worker");
    w.on("message", (reply: HashReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ("error" in reply) p.reject(new TruecastError("VERIFY_FAILED", reply.error));
      else p.resolve(reply.digests);
    });
    w.on("error", (e) => {
      for (const p of this.pending.values()) p.reject(new TruecastError("INTERNAL", `hashing worker failed: ${e.message}`));
      this.pending.clear();
    });
    w.unref();
    this.worker = w;
    return w;
  }

  hash(path: string, ranges: HashTask["ranges"]): Promise<string[]> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, path, ranges } satisfies HashTask);
    }).finally(() => {
      if (this.pending.size === 0) worker.unref();
    }) as Promise<string[]>;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
