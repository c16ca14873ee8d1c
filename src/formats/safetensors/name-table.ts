/**
 * Tensor names held compactly: the UTF-8 bytes of every name in one growing buffer, with an offset per name, so that
 * a million names cost their bytes plus four, not a JavaScript string (and an object pointing at it) each. Names
 * compare by their bytes, which is code point order (the reference writer's order), and a hash index finds a name
 * seen before without a Set of strings. A {@link NameRefs} column holds no bytes of its own: it points at names kept
 * in other tables (a plan's names are its source header's), at eight bytes a name.
 */

/** Names by number, wherever their UTF-8 bytes are kept. */
export interface NameColumn {
  readonly count: number;
  /** The buffer holding name `i`'s bytes, from {@link startOf} for {@link byteLength} bytes (valid until a name is added there). */
  bytesOf(i: number): Uint8Array;
  startOf(i: number): number;
  byteLength(i: number): number;
  /** Name `i` as a string (made on each call: callers keep only what they need). */
  name(i: number): string;
  /** Name `i`'s UTF-8 bytes: a view, valid until a name is added where they are kept. */
  view(i: number): Uint8Array;
}

/** A name kept elsewhere: row `row` of `names`. */
export interface NameRef {
  readonly names: NameColumn;
  readonly row: number;
}

/** Compares name `i` of `a` with name `j` of `b` by code point (the byte order of UTF-8). */
export function compareNames(a: NameColumn, i: number, b: NameColumn, j: number): number {
  const x = a.bytesOf(i);
  const y = b.bytesOf(j);
  let p = a.startOf(i);
  let q = b.startOf(j);
  const pEnd = p + a.byteLength(i);
  const qEnd = q + b.byteLength(j);
  for (; p < pEnd && q < qEnd; p++, q++) {
    const d = (x[p] as number) - (y[q] as number);
    if (d !== 0) return d;
  }
  return pEnd - p - (qEnd - q);
}

/** Do name `i` of `a` and name `j` of `b` hold the same text? */
export function sameName(a: NameColumn, i: number, b: NameColumn, j: number): boolean {
  return a.byteLength(i) === b.byteLength(j) && compareNames(a, i, b, j) === 0;
}

/** FNV-1a of name `i`'s bytes, with murmur3's final mix (so that the low bits spread too). */
function hashName(names: NameColumn, i: number): number {
  const b = names.bytesOf(i);
  let h = 0x811c9dc5;
  for (let p = names.startOf(i), end = p + names.byteLength(i); p < end; p++) h = Math.imul(h ^ (b[p] as number), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const INITIAL_BYTES = 1 << 12;
const INITIAL_NAMES = 1 << 8;

/** Every name added, in order; name `i` is bytes `starts[i]`..`starts[i + 1]`. */
export class NameTable implements NameColumn {
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

  bytesOf(_i?: number): Uint8Array {
    return this.bytes;
  }

  startOf(i: number): number {
    return this.start(i);
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

/** Finds repeated names in a {@link NameColumn} as they are added: open addressing over name indexes. */
export class NameIndex {
  private slots: Int32Array;
  /** The hash of the name in each slot. */
  private hashes: Uint32Array;
  private size = 0;
  /** `expected`: how many names will be added, when known (the table is then made once, never grown). */
  constructor(
    private readonly names: NameColumn,
    expected = 0,
  ) {
    let n = 1 << 10;
    while (n < expected * 2 + 2) n *= 2;
    this.slots = new Int32Array(n).fill(-1);
    this.hashes = new Uint32Array(n);
  }

  /** Records name `i`; returns the index of an earlier name with the same text, or -1 (then `i` is recorded). */
  add(i: number): number {
    if ((this.size + 1) * 2 > this.slots.length) this.grow();
    const found = this.probe(i, hashName(this.names, i), true);
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
      if (compare && this.hashes[s] === h && sameName(this.names, j, this.names, i)) return j;
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

/**
 * Names kept in other columns, by reference: name `i` is row `rows[i]` of column `columns[columnOf[i]]`. Eight
 * bytes a name, where a copy costs the name's bytes plus four. A name that lives nowhere else is copied into a
 * table of this column's own.
 */
export class NameRefs implements NameColumn {
  private readonly columns: NameColumn[] = [];
  private readonly ids = new Map<NameColumn, number>();
  private columnOf: Uint32Array;
  private rows: Uint32Array;
  private own: NameTable | null = null;
  count = 0;
  /** `expected`: how many names will be added, when known (room for them is made at once). */
  constructor(expected = INITIAL_NAMES) {
    this.columnOf = new Uint32Array(Math.max(1, expected));
    this.rows = new Uint32Array(Math.max(1, expected));
  }

  /** Adds name `row` of `column` as the next name (its bytes stay there); returns its index. */
  addRef(column: NameColumn, row: number): number {
    // A reference to a reference is followed to where the bytes are.
    if (column instanceof NameRefs) return this.push(column.columnAt(row), column.rows[row] as number);
    return this.push(column, row);
  }

  /** Adds `name`, held nowhere else, as the next name (copied); returns its index. */
  addString(name: string): number {
    this.own ??= new NameTable();
    return this.push(this.own, this.own.addString(name));
  }

  bytesOf(i: number): Uint8Array {
    return this.columnAt(i).bytesOf(this.rows[i] as number);
  }

  startOf(i: number): number {
    return this.columnAt(i).startOf(this.rows[i] as number);
  }

  byteLength(i: number): number {
    return this.columnAt(i).byteLength(this.rows[i] as number);
  }

  name(i: number): string {
    return this.columnAt(i).name(this.rows[i] as number);
  }

  view(i: number): Uint8Array {
    return this.columnAt(i).view(this.rows[i] as number);
  }

  private columnAt(i: number): NameColumn {
    return this.columns[this.columnOf[i] as number] as NameColumn;
  }

  private push(column: NameColumn, row: number): number {
    let id = this.ids.get(column);
    if (id === undefined) {
      id = this.columns.push(column) - 1;
      this.ids.set(column, id);
    }
    if (this.count >= this.rows.length) {
      const n = this.rows.length * 2;
      const columnOf = new Uint32Array(n);
      columnOf.set(this.columnOf);
      this.columnOf = columnOf;
      const rows = new Uint32Array(n);
      rows.set(this.rows);
      this.rows = rows;
    }
    this.columnOf[this.count] = id;
    this.rows[this.count] = row;
    return this.count++;
  }
}
