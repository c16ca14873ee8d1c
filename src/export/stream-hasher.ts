import type { Worker } from "node:worker_threads";
import { TruecastError } from "../errors.js";
import { startWorker } from "../util/worker.js";
import type { StreamHashReply, StreamHashTask } from "./hash-protocol.js";

/** Bytes sent to the hashing thread and not yet hashed, at most: bounds memory when hashing lags behind. */
export const MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * sha256 of many byte streams (one per tensor), computed on a worker thread while the caller writes the bytes.
 * `update` copies the chunk to the worker and waits only when too many bytes are in flight.
 */
export class StreamHasher {
  private worker: Worker | null = null;
  private nextStream = 1;
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private failure: Error | null = null;
  private readonly digests = new Map<number, (d: string) => void>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(import.meta.url, "stream-hash-worker");
    w.on("message", (r: StreamHashReply) => {
      if (r.kind === "ack") {
        this.inFlight -= r.bytes;
        this.wake();
      } else {
        this.digests.get(r.stream)?.(r.digest);
        this.digests.delete(r.stream);
      }
    });
    w.on("error", (e) => {
      this.failure = new TruecastError("INTERNAL", `hashing thread failed: ${e.message}`);
      this.wake();
    });
    this.worker = w;
    return w;
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** A new stream's id. */
  open(): number {
    this.start();
    return this.nextStream++;
  }

  async update(stream: number, chunk: Uint8Array): Promise<void> {
    while (this.inFlight > MAX_BYTES_IN_FLIGHT && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
    this.inFlight += chunk.byteLength;
    this.start().postMessage({ kind: "update", stream, chunk } satisfies StreamHashTask);
  }

  /** The stream's sha256 (hex), once every chunk sent before is hashed. */
  digest(stream: number): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve) => {
      this.digests.set(stream, resolve);
      this.start().postMessage({ kind: "digest", stream } satisfies StreamHashTask);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
