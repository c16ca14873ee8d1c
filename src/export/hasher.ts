import type { Worker } from "node:worker_threads";
import { TruecastError } from "../errors.js";
import { startWorker } from "../util/worker.js";
import type { HashReply, HashRequest, HashTask, PassFile } from "./hash-protocol.js";

/** A file's SHA-256, taken in the reads that verified it, and the file those reads found at the end. */
export interface PassResult {
  readonly sha256: string;
  readonly file: PassFile;
}

type Answer = string[] | PassResult;

/** Digests (util/digest.ts) of byte ranges of files, computed on a worker thread. One task at a time is enough: tasks are whole shards. */
export class RangeHasher {
  private worker: Worker | null = null;
  private nextId = 1;
  private nextPass = 1;
  /**
   * Passes dropped (their shard failed): a batch of that shard still queued behind the failure is refused here, not
   * sent, as the worker would take it for a new pass and read the file from its first byte again.
   */
  private readonly dropped = new Set<number>();
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(import.meta.url, "hash-worker");
    w.on("message", (reply: HashReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ("error" in reply) p.reject(new TruecastError("VERIFY_FAILED", reply.error));
      else p.resolve("digests" in reply ? reply.digests : { sha256: reply.sha256, file: reply.file });
    });
    w.on("error", (e) => {
      for (const p of this.pending.values()) p.reject(new TruecastError("INTERNAL", `hashing worker failed: ${e.message}`));
      this.pending.clear();
    });
    w.unref();
    this.worker = w;
    return w;
  }

  private ask(task: (id: number) => HashRequest): Promise<Answer> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<Answer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage(task(id));
    }).finally(() => {
      if (this.pending.size === 0) worker.unref();
    });
  }

  /** The digests of `ranges` of `path`; with `pass`, the ranges (in file order) also feed that pass's SHA-256. */
  async hash(path: string, ranges: HashTask["ranges"], pass?: number): Promise<string[]> {
    if (pass !== undefined) this.refuseDropped(path, pass);
    return (await this.ask((id) => ({ type: "ranges", id, path, ranges, ...(pass !== undefined && { pass }) }))) as string[];
  }

  /**
   * A new whole-file SHA-256 pass: give its number to every hash() of the file's tensors, in file order, and finish
   * it with endPass() once the file is complete, so the file is read once for both digests.
   */
  startPass(): number {
    return this.nextPass++;
  }

  /** The SHA-256 of every byte of `path` (`size` of them), and the file as fstat saw it after the last read. */
  async endPass(path: string, pass: number, size: number): Promise<PassResult> {
    this.refuseDropped(path, pass);
    return (await this.ask((id) => ({ type: "end", id, path, pass, size }))) as PassResult;
  }

  /** Forget a pass that will not be finished. */
  dropPass(pass: number): void {
    this.dropped.add(pass);
    this.worker?.postMessage({ type: "drop", pass } satisfies HashRequest);
  }

  private refuseDropped(path: string, pass: number): void {
    if (this.dropped.has(pass)) throw new TruecastError("VERIFY_FAILED", `${path}: its verification already failed; it is not read again`);
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
