/**
 * A Blob over (a byte range of) a local file that streams in large chunks, given to the official client for each
 * upload: the client hashes it, slices it for multipart parts and sends it as a request body.
 *
 * Why not `fs.openAsBlob`: its stream yields 64 KiB chunks, and the client's sha256 pass does several promise
 * hops per chunk; measured here on a 1 GB shard, that pass took 2.1 s against 0.7 s with 1 MiB chunks, and it is
 * time the upload waits for (the LFS protocol needs the sha256 before the first byte is sent).
 *
 * Like a file-backed Blob of Node's, it refuses to read a file that changed (size or modification time) since it
 * was opened, and it reads lazily: nothing is open or buffered until a stream is pulled.
 */
import type { Stats } from "node:fs";
import { open, stat } from "node:fs/promises";
import { TruecastError } from "../errors.js";

/**
 * Bytes read per chunk. Per-chunk costs (a file read, the client's progress hop, a socket write) stop mattering
 * from about 512 KiB; at 1 MiB a stream holds a few MiB at most (one chunk read ahead, one being consumed).
 */
export const FILE_BLOB_CHUNK_BYTES = 1048576;

/** The file's identity when the blob was opened: a read that finds another size or mtime fails. */
interface Snapshot {
  size: number;
  mtimeMs: number;
}

function changed(path: string): TruecastError {
  return new TruecastError("UNREADABLE", `${path} changed while it was being uploaded; let whatever writes it finish, then publish again`);
}

export class FileBlob extends Blob {
  readonly path: string;
  readonly #start: number;
  readonly #end: number;
  readonly #snapshot: Snapshot;

  private constructor(path: string, start: number, end: number, snapshot: Snapshot, type: string) {
    super([]);
    this.path = path;
    this.#start = start;
    this.#end = end;
    this.#snapshot = snapshot;
    // Own properties shadow Blob's accessors, which would report the empty Blob given to super().
    Object.defineProperty(this, "size", { value: end - start, enumerable: true });
    Object.defineProperty(this, "type", { value: type, enumerable: true });
  }

  /** A blob of the whole file. Throws UNREADABLE when it cannot be read or is not a regular file. */
  static async open(path: string): Promise<FileBlob> {
    let st: Stats;
    try {
      st = await stat(path);
    } catch (e) {
      throw new TruecastError("UNREADABLE", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (!st.isFile()) throw new TruecastError("UNREADABLE", `cannot read ${path}: not a regular file`);
    return new FileBlob(path, 0, st.size, { size: st.size, mtimeMs: st.mtimeMs }, "");
  }

  override slice(start?: number, end?: number, type?: string): FileBlob {
    const size = this.#end - this.#start;
    const clamp = (v: number | undefined, dflt: number) => {
      if (v === undefined) return dflt;
      const n = Math.trunc(v);
      return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
    };
    const from = clamp(start, 0);
    const to = Math.max(from, clamp(end, size));
    return new FileBlob(this.path, this.#start + from, this.#start + to, this.#snapshot, type ?? "");
  }

  override stream(): ReadableStream<Uint8Array> {
    const path = this.path;
    const end = this.#end;
    const snapshot = this.#snapshot;
    let pos = this.#start;
    let handle: Awaited<ReturnType<typeof open>> | null = null;
    const close = async () => {
      const h = handle;
      handle = null;
      await h?.close().catch(() => undefined);
    };
    return new ReadableStream<Uint8Array>(
      {
        async pull(ctl) {
          try {
            if (handle === null) {
              handle = await open(path, "r");
              const st = await handle.stat();
              if (st.size !== snapshot.size || st.mtimeMs !== snapshot.mtimeMs) throw changed(path);
            }
            if (pos >= end) {
              await close();
              return ctl.close();
            }
            const want = Math.min(FILE_BLOB_CHUNK_BYTES, end - pos);
            const buf = Buffer.allocUnsafe(want);
            let got = 0;
            while (got < want) {
              const { bytesRead } = await handle.read(buf, got, want - got, pos + got);
              if (bytesRead === 0) throw changed(path);
              got += bytesRead;
            }
            pos += got;
            ctl.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, got));
          } catch (e) {
            await close();
            ctl.error(e instanceof TruecastError ? e : new TruecastError("UNREADABLE", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`));
          }
        },
        cancel: close,
      },
      // One chunk read ahead, so reading the file overlaps hashing or sending the chunk before it.
      { highWaterMark: 1 },
    );
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const out = new Uint8Array(this.#end - this.#start);
    let at = 0;
    const reader = this.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out.set(value, at);
      at += value.byteLength;
    }
    return out.buffer;
  }

  override async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer());
  }
}
