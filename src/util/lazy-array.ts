/**
 * A read-only array whose entries are made when read: `Array.isArray` holds, `length`, indexing, iteration,
 * `JSON.stringify` and the array methods work, but nothing is kept, so a report of a million tensors can be
 * walked (and streamed) without a million objects alive at once. Each read makes a fresh entry.
 */
export function lazyArray<T>(length: number, at: (index: number) => T): readonly T[] {
  // A canonical array index ("0", "17"; not "017", "1e3" or "-0") below `length`, read digit by digit (every read of
  // an entry comes here: no strings made).
  const index = (key: string | symbol): number => {
    if (typeof key !== "string") return -1;
    const digits = key.length;
    if (digits === 0 || digits > 16 || (digits > 1 && key.charCodeAt(0) === 48)) return -1;
    let n = 0;
    for (let p = 0; p < digits; p++) {
      const d = key.charCodeAt(p) - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n < length ? n : -1;
  };
  // An empty array: the target answers for the prototype, the handler for the entries and `length` (an array of
  // `length` holes would cost V8 eight bytes an entry).
  const target: T[] = [];
  return new Proxy(target, {
    get(t, key, receiver) {
      if (key === "length") return length;
      const i = index(key);
      return i >= 0 ? at(i) : Reflect.get(t, key, receiver);
    },
    has(t, key) {
      return index(key) >= 0 || Reflect.has(t, key);
    },
    getOwnPropertyDescriptor(t, key) {
      // `length` stays what an array's is (writable, not configurable), with the array's length as its value.
      if (key === "length") return { value: length, writable: true, enumerable: false, configurable: false };
      const i = index(key);
      return i >= 0 ? { value: at(i), writable: false, enumerable: true, configurable: true } : Reflect.getOwnPropertyDescriptor(t, key);
    },
    ownKeys(t) {
      return [...Array.from({ length }, (_, i) => String(i)), ...Reflect.ownKeys(t)];
    },
    set() {
      return false;
    },
    deleteProperty() {
      return false;
    },
    defineProperty() {
      return false;
    },
  });
}

/** The arrays one after the other, as one array read through to them (nothing copied; each read finds its part). */
export function lazyConcat<T>(parts: readonly (readonly T[])[]): readonly T[] {
  if (parts.length === 1) return parts[0] as readonly T[];
  const starts: number[] = [];
  let n = 0;
  for (const p of parts) {
    starts.push(n);
    n += p.length;
  }
  return lazyArray(n, (i) => {
    // The last part starting at or before i (binary search: a model may have thousands of shards).
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= i) lo = mid;
      else hi = mid - 1;
    }
    return (parts[lo] as readonly T[])[i - (starts[lo] as number)] as T;
  });
}
