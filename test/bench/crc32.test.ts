/** The CRC-32 arithmetic of the scale benchmark's torch shards (bench/crc32.ts) against zlib's CRC of the bytes themselves. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { crc32Combine, crc32OfRepeating, crc32Repeat } from "../../bench/crc32.js";

const block = Uint8Array.from({ length: 997 }, (_, i) => (i * 131 + 7) & 0xff);

/** `length` bytes of the endless repetition of `block` from `start`, materialised. */
function repeating(start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => block[(start + i) % block.length] ?? 0);
}

test("crc32Combine gives the CRC of the concatenation", () => {
  const a = repeating(3, 5000);
  const b = repeating(11, 777);
  assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(Buffer.concat([a, b])));
  assert.equal(crc32Combine(crc32(a), crc32(new Uint8Array(0)), 0), crc32(a));
});

test("crc32Repeat and crc32OfRepeating equal the CRC of the bytes for every kind of range", () => {
  for (const times of [0, 1, 2, 3, 7, 8, 13]) assert.equal(crc32Repeat(block, times), crc32(repeating(0, block.length * times)), `${times} times`);
  for (const [start, length] of [[0, 0], [0, 1], [5, 10], [990, 20], [996, 997], [0, 997 * 5], [400, 997 * 4 + 3], [1994 + 12, 12_345]] as const) {
    assert.equal(crc32OfRepeating(block, start, length), crc32(repeating(start, length)), `bytes [${start}, +${length})`);
  }
});
