/**
 * The bytes a remote store has already fetched, kept so that the reads which follow one another at the start of a
 * file (8 bytes of length, then the header; a zip's end record, then its central directory) cost one request, not
 * one each. Blocks are byte intervals of a file; the least recently used go first once `maxBytes` is passed.
 */

interface Block {
  path: string;
  start: number;
  bytes: Uint8Array;
}

export class BlockCache {
  #blocks: Block[] = [];
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes [start, end) of `path` when one block holds them all (a copy: callers may keep or change it). */
  get(path: string, start: number, end: number): Uint8Array | null {
    const i = this.#blocks.findIndex((b) => b.path === path && b.start <= start && b.start + b.bytes.byteLength >= end);
    if (i < 0) return null;
    const b = this.#touch(i);
    return b.bytes.slice(start - b.start, end - b.start);
  }

  /** The longest run of cached bytes of `path` that starts at `start` and ends by `end` (a copy), or null. */
  prefix(path: string, start: number, end: number): Uint8Array | null {
    let best = -1;
    let reach = start;
    this.#blocks.forEach((b, i) => {
      const bEnd = b.start + b.bytes.byteLength;
      if (b.path === path && b.start <= start && bEnd > reach) {
        best = i;
        reach = bEnd;
      }
    });
    if (best < 0) return null;
    const b = this.#touch(best);
    return b.bytes.slice(start - b.start, Math.min(end, reach) - b.start);
  }

  put(path: string, start: number, bytes: Uint8Array): void {
    if (bytes.byteLength === 0 || bytes.byteLength > this.maxBytes) return;
    this.#blocks.push({ path, start, bytes });
    this.#bytes += bytes.byteLength;
    while (this.#bytes > this.maxBytes) {
      const old = this.#blocks.shift();
      if (old) this.#bytes -= old.bytes.byteLength;
    }
  }

  /** Drops every block of `path`. */
  forget(path: string): void {
    this.#blocks = this.#blocks.filter((b) => {
      if (b.path === path) this.#bytes -= b.bytes.byteLength;
      return b.path !== path;
    });
  }

  get bytes(): number {
    return this.#bytes;
  }

  #touch(i: number): Block {
    const [b] = this.#blocks.splice(i, 1);
    if (!b) throw new Error("BlockCache: no block");
    this.#blocks.push(b);
    return b;
  }
}
