/**
 * CRC-32 (the zip one) of long repetitive byte streams without reading them: the CRC of A followed by B from the
 * CRCs of A and B and the length of B, by arithmetic on polynomials over GF(2) modulo the CRC polynomial (the method
 * of zlib's crc32_combine). The scale benchmark's torch shards (bench/scale-torch-zip.ts) need the true CRC of
 * storages of gigabytes that repeat one 1 MiB block.
 */
import { crc32 } from "node:zlib";

/** The CRC-32 polynomial, reflected. */
const POLY = 0xedb88320;

/** a × b modulo the polynomial (both reflected, x^0 in the top bit). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31 (the sequence repeats with period 32 for this polynomial, as zlib uses). */
const X2N: number[] = [];
{
  let p = 0x40000000; // x^1
  X2N.push(p);
  for (let k = 1; k < 32; k++) X2N.push((p = multModP(p, p)));
}

/** x^(n × 2^k) modulo the polynomial, n a non-negative integer below 2^53. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31] ?? 0, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** CRC-32 of A‖B from crcA, crcB and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}

/** CRC-32 of `block` repeated `times` times, by doubling: O(log times) combinations. */
export function crc32Repeat(block: Uint8Array, times: number): number {
  let result = 0; // CRC of the empty stream
  let resultLength = 0;
  let power = crc32(block); // CRC of block repeated 2^i times
  let powerLength = block.byteLength;
  for (let n = times; n > 0; n = Math.floor(n / 2)) {
    if (n % 2 === 1) {
      result = resultLength === 0 ? power : crc32Combine(result, power, powerLength);
      resultLength += powerLength;
    }
    if (n > 1) {
      power = crc32Combine(power, power, powerLength);
      powerLength *= 2;
    }
  }
  return result >>> 0;
}

/**
 * CRC-32 of bytes [start, start + length) of the endless stream that repeats `block` (start any offset into it).
 * Reads at most two partial blocks.
 */
export function crc32OfRepeating(block: Uint8Array, start: number, length: number): number {
  const b = block.byteLength;
  const at = start % b;
  const head = Math.min(length, b - at);
  let crc = crc32(block.subarray(at, at + head));
  let rest = length - head;
  const whole = Math.floor(rest / b);
  if (whole > 0) crc = crc32Combine(crc, crc32Repeat(block, whole), whole * b);
  rest -= whole * b;
  if (rest > 0) crc = crc32Combine(crc, crc32(block.subarray(0, rest)), rest);
  return crc >>> 0;
}
