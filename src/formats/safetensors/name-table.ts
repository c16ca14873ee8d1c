/**
 * Tensor names held compactly: the UTF-8 bytes of every name in one growing buffer, with an offset per name, so that
 * a million names cost their bytes plus four, not a JavaScript string (and an object pointing at it) each. Names
 * compare by their bytes, which is code point order (the reference writer's order), and a hash index finds a name
 * seen before without a Set of strings.
 */

const INITIAL_BYTES = 1 << 12;
const INITIAL_NAMES = 1 << 8;

/** Every name added, in order; name `i` is bytes `starts[i]`..`starts[i + 1]`. */
export class NameTable {
  private bytes = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private starts = new Uint32Array(INITIAL_NAMES + 1);
  private used = 0;
  count = 0;

  /** Adds the bytes `from[start..end)` (valid UTF-8) as the next name; returns its index. */
  addBytes(from: Uint8Array, start: number, end: number): number {
    const length = end - start;
    this.reserve(length);
    this.bytes.set(from.subarray(start, end), this.used);
    return this.close(length);
  }

  /** Adds `name` as the next name; returns its index. */
  addString(name: string): number {
    const length = Buffer.byteLength(name, "utf8");
    this.reserve(length);
    this.bytes.write(name, this.used, length, "utf8");
    return this.close(length);
  }

  /** Name `i` as a string (made on each call: callers keep only what they need). */
  name(i: number): string {
    return this.bytes.toString("utf8", this.start(i), this.end(i));
  }

  /** Bytes of name `i`. */
  byteLength(i: number): number {
    return this.end(i) - this.start(i);
  }

  /** Name `i`'s UTF-8 bytes: a view, valid until the next name is added. */
  view(i: number): Uint8Array {
    return this.bytes.subarray(this.start(i), this.end(i));
  }

  /** Compares name `i` of this table with name `j` of `other` by code point (the byte order of UTF-8). */
  compare(i: number, other: NameTable, j: number): number {
    const a = this.bytes;
    const b = other.bytes;
    let p = this.start(i);
    let q = other.start(j);
    const pEnd = this.end(i);
    const qEnd = other.end(j);
    for (; p < pEnd && q < qEnd; p++, q++) {
      const d = (a[p] as number) - (b[q] as number);
      if (d !== 0) return d;
    }
    return pEnd - p - (qEnd - q);
  }

  /** Do name `i` here and name `j` of `other` hold the same text? */
  equals(i: number, other: NameTable, j: number): boolean {
    return this.byteLength(i) === other.byteLength(j) && this.compare(i, other, j) === 0;
  }

  /** FNV-1a of name `i`'s bytes, with murmur3's final mix (so that the low bits spread too). */
  hash(i: number): number {
    const b = this.bytes;
    let h = 0x811c9dc5;
    for (let p = this.start(i), end = this.end(i); p < end; p++) h = Math.imul(h ^ (b[p] as number), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  private start(i: number): number {
    return this.starts[i] as number;
  }

  private end(i: number): number {
    return this.starts[i + 1] as number;
  }

  private reserve(length: number): void {
    if (this.used + length > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.used + length));
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    if (this.count + 2 > this.starts.length) {
      const grown = new Uint32Array(this.starts.length * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
  }

  private close(length: number): number {
    this.used += length;
    this.starts[this.count + 1] = this.used;
    return this.count++;
  }
}

/** Finds repeated names in a {@link NameTable} as they are added: open addressing over name indexes. */
export class NameIndex {
  private slots = new Int32Array(1 << 10).fill(-1);
  /** The hash of the name in each slot. */
  private hashes = new Uint32Array(1 << 10);
  private size = 0;
  constructor(private readonly names: NameTable) {}

  /** Records name `i`; returns the index of an earlier name with the same text, or -1 (then `i` is recorded). */
  add(i: number): number {
    if ((this.size + 1) * 2 > this.slots.length) this.grow();
    const found = this.probe(i, this.names.hash(i), true);
    if (found >= 0) return found;
    this.size++;
    return -1;
  }

  /** Finds name `i` (hash `h`), or puts it in the first free slot; `compare` false: known to be new. */
  private probe(i: number, h: number, compare: boolean): number {
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const j = this.slots[s] as number;
      if (j < 0) {
        this.slots[s] = i;
        this.hashes[s] = h;
        return -1;
      }
      if (compare && this.hashes[s] === h && this.names.equals(j, this.names, i)) return j;
    }
  }

  private grow(): void {
    const slots = this.slots;
    const hashes = this.hashes;
    this.slots = new Int32Array(slots.length * 2).fill(-1);
    this.hashes = new Uint32Array(slots.length * 2);
    for (let s = 0; s < slots.length; s++) {
      const j = slots[s] as number;
      if (j >= 0) this.probe(j, hashes[s] as number, false);
    }
  }
}
