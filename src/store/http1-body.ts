/**
 * The body of an HTTP/1.1 answer, decoded from the connection's read buffer straight into the caller's buffer (one
 * copy, no allocation): a Content-Length body, a chunked one (RFC 9112 §7.1: hex size, extensions ignored, CRLF after
 * each chunk's data, trailer fields skipped), or one that runs until the connection closes. Chunk framing is bounded
 * ({@link MAX_CHUNK_LINE_BYTES} a size line, {@link MAX_TRAILER_BYTES} of trailers) and strict: a size that is not hex,
 * a chunk not followed by CRLF, or a bare LF is an {@link HttpProtocolError}.
 */
import { HttpProtocolError, MAX_HEAD_BYTES, type BodyFraming } from "./http1-head.js";

/** Longest chunk-size line (size and extensions); real servers send a few bytes. */
export const MAX_CHUNK_LINE_BYTES = 4096;
/** Trailer fields after the last chunk, skipped, up to this many bytes. */
export const MAX_TRAILER_BYTES = MAX_HEAD_BYTES;

type ChunkState = "size" | "data" | "data-cr" | "data-lf" | "trailer";

export class BodyDecoder {
  /** The body has ended: every byte past it belongs to no answer. */
  done: boolean;
  /** Bytes placed by the last {@link decode}. */
  placed = 0;
  /** Body bytes placed so far. */
  total = 0;
  #left: number;
  #state: ChunkState = "size";
  #line = "";
  #trailer = 0;

  constructor(readonly framing: BodyFraming) {
    this.done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
    this.#left = framing.kind === "length" ? framing.length : 0;
  }

  /**
   * Decodes `src[at, end)` into `dest` from `destAt` until `dest` is full, the input is used up or the body ends;
   * returns the index in `src` of the first byte not used (sets {@link placed}).
   */
  decode(src: Uint8Array, at: number, end: number, dest: Uint8Array, destAt: number): number {
    let out = destAt;
    const kind = this.framing.kind;
    if (kind === "length" || kind === "close") {
      const n = Math.min(end - at, dest.byteLength - out, kind === "length" ? this.#left : Infinity);
      if (n > 0) dest.set(src.subarray(at, at + n), out);
      at += n;
      out += n;
      if (kind === "length") {
        this.#left -= n;
        this.done = this.#left === 0;
      }
    } else if (kind === "chunked") {
      while (at < end && !this.done) {
        if (this.#state === "data") {
          const n = Math.min(end - at, dest.byteLength - out, this.#left);
          if (n === 0) break;
          dest.set(src.subarray(at, at + n), out);
          at += n;
          out += n;
          this.#left -= n;
          if (this.#left === 0) this.#state = "data-cr";
          continue;
        }
        const c = src[at++] as number;
        if (this.#state === "data-cr" || this.#state === "data-lf") {
          if (c !== (this.#state === "data-cr" ? 13 : 10)) throw new HttpProtocolError("a chunk of the answer is not followed by CRLF");
          this.#state = this.#state === "data-cr" ? "data-lf" : "size";
        } else if (c === 10) {
          if (!this.#line.endsWith("\r")) throw new HttpProtocolError("a chunk line of the answer ends with a bare LF");
          this.#endLine(this.#line.slice(0, -1));
          this.#line = "";
        } else {
          this.#line += String.fromCharCode(c);
          if (this.#state === "size" && this.#line.length > MAX_CHUNK_LINE_BYTES) throw new HttpProtocolError(`a chunk-size line of the answer is over ${MAX_CHUNK_LINE_BYTES} bytes`);
          if (this.#state === "trailer" && (this.#trailer += 1) > MAX_TRAILER_BYTES) throw new HttpProtocolError(`the answer's trailer is over ${MAX_TRAILER_BYTES} bytes`);
        }
      }
    }
    this.placed = out - destAt;
    this.total += this.placed;
    return at;
  }

  /** The connection reached its end: the end of a body that runs until then; otherwise whether it was complete. */
  eof(): boolean {
    if (this.framing.kind === "close") this.done = true;
    return this.done;
  }

  #endLine(line: string): void {
    if (this.#state === "trailer") {
      if (line === "") this.done = true;
      return;
    }
    const size = line.split(";", 1)[0]?.replace(/[\t ]+$/, "") ?? "";
    if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpProtocolError(`a chunk size of the answer is not hex: ${JSON.stringify(size.slice(0, 20))}`);
    this.#left = parseInt(size, 16);
    this.#state = this.#left === 0 ? "trailer" : "data";
  }
}
