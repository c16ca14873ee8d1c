/** A RandomAccess that reads through `inner`, counting reads, bytes and the largest read (tests of view reads). */
import type { RandomAccess } from "../../../src/formats/zip.js";

export function counting(inner: RandomAccess): RandomAccess & { reads: number; bytes: number; largest: number } {
  const c = {
    size: inner.size,
    reads: 0,
    bytes: 0,
    largest: 0,
    read: async (p: number, n: number) => {
      c.reads++;
      c.bytes += n;
      c.largest = Math.max(c.largest, n);
      return inner.read(p, n);
    },
  };
  return c;
}
