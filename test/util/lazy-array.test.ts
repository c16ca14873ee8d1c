import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { lazyArray, lazyConcat } from "../../src/util/lazy-array.js";

/** The heap in use once garbage is collected. */
function liveHeap(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

test("a lazy array reads as an array: length, indexing, iteration, methods, JSON", () => {
  const a = lazyArray(4, (i) => ({ i }));
  assert.equal(a.length, 4);
  assert.ok(Array.isArray(a));
  assert.deepEqual(a[2], { i: 2 });
  assert.equal(a[4], undefined);
  // Only canonical indexes are entries.
  assert.deepEqual(["01", "-0", "1e0", " 1", "1.0", "4"].map((k) => (a as unknown as Record<string, unknown>)[k]), [undefined, undefined, undefined, undefined, undefined, undefined]);
  assert.deepEqual((a as unknown as Record<string, unknown>)["0"], { i: 0 });
  assert.deepEqual([...a].map((x) => x.i), [0, 1, 2, 3]);
  assert.deepEqual(a.filter((x) => x.i % 2 === 1), [{ i: 1 }, { i: 3 }]);
  assert.deepEqual(Object.keys(a), ["0", "1", "2", "3"]);
  assert.equal(JSON.stringify(a), '[{"i":0},{"i":1},{"i":2},{"i":3}]');
  assert.equal(Object.getOwnPropertyDescriptor(a, "length")?.value, 4);
  assert.deepEqual(lazyArray(0, () => 1), []);
});

test("lazy arrays joined read through to their parts, in order", () => {
  const parts = [lazyArray(3, (i) => `a${i}`), [] as string[], ["b0"], lazyArray(2, (i) => `c${i}`)];
  const all = lazyConcat(parts);
  assert.equal(all.length, 6);
  assert.deepEqual([...all], ["a0", "a1", "a2", "b0", "c0", "c1"]);
  assert.equal(all[5], "c1");
  assert.deepEqual([...lazyConcat<string>([])], []);
});

test("a lazy array of a million entries keeps nothing per entry", () => {
  const before = liveHeap();
  const kept = Array.from({ length: 4 }, () => lazyArray(1_000_000, (i) => i));
  const grown = liveHeap() - before;
  // An array of a million holes behind each would be 8 MB each (32 MB for four).
  assert.ok(grown < 4_000_000, `four lazy arrays of a million entries hold ${grown} bytes of heap`);
  assert.equal(kept[3]?.[999_999], 999_999);
});
