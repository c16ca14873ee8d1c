/**
 * The body of the Hub's ndjson commit call, generated as it is sent: the `header` line, `lfsFile` lines, and a
 * `file` line per small file whose base64 content is read from the file and encoded a chunk at a time. Memory stays
 * at a chunk or two however many files go inside the commit (30 files of 9.9 MB took 2 GB when the body was
 * built as one string).
 *
 * It is a Blob whose size is known before a byte is read (base64 of n bytes is 4·⌈n/3⌉ characters, the rest is
 * JSON of known strings), so fetch sends a Content-Length, hub-fetch streams it with its progress counting, and a
 * retry replays it by calling stream() again.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { TruecastError } from "../errors.js";
import type { CommitFileLine } from "./commit-request.js";
import { describeChange, fileChanged, sameIdentity } from "./file-identity.js";

/** One file of the commit (declared with the commit call, so that no public type names this class). */
export type CommitBodyFile = CommitFileLine;

/** Bytes read per chunk of a small file: a multiple of 3, so each chunk's base64 ends without padding. */
export const BASE64_READ_BYTES = 3 * 256 * 1024;

type Piece = { text: string } | { file: CommitBodyFile };

const utf8 = new TextEncoder();

function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/** The pieces of the body: JSON text around each file's base64 content, in order, then the deletions. */
function pieces(header: object, files: readonly CommitBodyFile[], deleted: readonly string[]): Piece[] {
  const out: Piece[] = [{ text: JSON.stringify({ key: "header", value: header }) }];
  for (const f of files) {
    if (f.lfs) {
      out.push({ text: "\n" + JSON.stringify({ key: "lfsFile", value: { path: f.pathInRepo, algo: "sha256", size: f.size, oid: f.oid } }) });
      continue;
    }
    // The content goes where the marker is; JSON.stringify never puts a bare marker string elsewhere.
    const marker = "\u0000content\u0000";
    const line = JSON.stringify({ key: "file", value: { path: f.pathInRepo, content: marker, encoding: "base64" } });
    const at = line.lastIndexOf(JSON.stringify(marker));
    out.push({ text: "\n" + line.slice(0, at + 1) }, { file: f }, { text: line.slice(at + JSON.stringify(marker).length - 1) });
  }
  for (const path of deleted) out.push({ text: "\n" + JSON.stringify({ key: "deletedFile", value: { path } }) });
  return out;
}

function changed(f: CommitBodyFile, got: string): TruecastError {
  return new TruecastError("VERIFY_FAILED", `${f.localPath} changed during the publish (${f.size} bytes when hashed, ${got} now); run again`);
}

/** The base64 of a file, chunk by chunk, failing when the file is not the size it was hashed at. */
async function* base64Chunks(f: CommitBodyFile): AsyncGenerator<Uint8Array> {
  const fh = await open(f.localPath, "r").catch((e: unknown) => {
    throw new TruecastError("UNREADABLE", `cannot read ${f.localPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  });
  try {
    const st = await fh.stat();
    // The file listed and hashed (device, inode, size, mtime), checked on the handle the bytes are read from.
    if (f.identity && !sameIdentity(st, f.identity)) throw fileChanged(f.localPath, describeChange(st, f.identity));
    if (st.size !== f.size) throw changed(f, `${st.size} bytes`);
    const buf = Buffer.allocUnsafe(BASE64_READ_BYTES);
    // The bytes sent must be the bytes hashed when the folder was listed: the path could have been swapped since
    // (for a link to a secret of the same size), and only the size would show nothing. Hashed through this handle,
    // which the bytes are then read from, before a byte of it is sent.
    const hash = createHash("sha256");
    for (let pos = 0; pos < f.size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, f.size - pos), pos);
      if (bytesRead === 0) throw changed(f, `shorter than ${pos + 1} bytes`);
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    if (hash.digest("hex") !== f.oid) throw changed(f, "other bytes of the same size");
    for (let pos = 0; pos < f.size; ) {
      const want = Math.min(buf.length, f.size - pos);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
        if (bytesRead === 0) throw changed(f, `shorter than ${pos + got + 1} bytes`);
        got += bytesRead;
      }
      pos += got;
      yield utf8.encode(buf.subarray(0, got).toString("base64"));
    }
  } finally {
    await fh.close();
  }
}

export class CommitBody extends Blob {
  readonly #pieces: Piece[];

  /** `deleted`: paths the same commit deletes from the revision (`deletedFile` lines). */
  constructor(header: { summary: string; description?: string; parentCommit?: string }, files: readonly CommitBodyFile[], deleted: readonly string[] = []) {
    super([]);
    this.#pieces = pieces(header, files, deleted);
    let size = 0;
    for (const p of this.#pieces) size += "text" in p ? utf8.encode(p.text).byteLength : base64Length(p.file.size);
    // Own properties shadow Blob's accessors, which would report the empty Blob given to super().
    Object.defineProperty(this, "size", { value: size, enumerable: true });
    Object.defineProperty(this, "type", { value: "application/x-ndjson", enumerable: true });
  }

  override stream(): ReadableStream<Uint8Array> {
    const all = this.#pieces;
    async function* generate(): AsyncGenerator<Uint8Array> {
      for (const p of all) {
        if ("text" in p) yield utf8.encode(p.text);
        else yield* base64Chunks(p.file);
      }
    }
    const it = generate();
    return new ReadableStream<Uint8Array>(
      {
        async pull(ctl) {
          try {
            const r = await it.next();
            if (r.done) ctl.close();
            else ctl.enqueue(r.value);
          } catch (e) {
            ctl.error(e instanceof TruecastError ? e : new TruecastError("UNREADABLE", `cannot read a file of the commit: ${(e as NodeJS.ErrnoException).code ?? String(e)}`));
          }
        },
        async cancel() {
          await it.return(undefined);
        },
      },
      { highWaterMark: 0 },
    );
  }

  override slice(): Blob {
    throw new TruecastError("INTERNAL", "a commit body is sent whole, never sliced");
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const parts: Uint8Array[] = [];
    const reader = this.stream().getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    const b = Buffer.concat(parts);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  override async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer());
  }
}
