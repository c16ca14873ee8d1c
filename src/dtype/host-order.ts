/**
 * Tensor bytes are little-endian; typed arrays use the host's order. These helpers give the kernels
 * aligned, host-order bytes and turn their results back into little-endian bytes. On a little-endian
 * host (every machine Node ships for but s390x) nothing is swapped, and aligned input is not copied.
 */

/** True when the host stores the low byte first. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([0x0102]).buffer)[0] === 0x02;

/** Index of the high and low 32-bit word of float64 element `i` in a host-order Uint32Array is `2i + HI`, `2i + LO`. */
export const HI = HOST_LITTLE_ENDIAN ? 1 : 0;
export const LO = 1 - HI;

/** Reverse the bytes of each `size`-byte element, in place. */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let start = 0; start + size <= bytes.length; start += size) {
    for (let i = start, j = start + size - 1; i < j; i++, j--) {
      const t = bytes[i] ?? 0;
      bytes[i] = bytes[j] ?? 0;
      bytes[j] = t;
    }
  }
}

/**
 * Little-endian element bytes → host-order bytes whose byteOffset is a multiple of `size`, so that typed
 * arrays can view them. The input itself when it already is (it is only read); otherwise a copy.
 */
export function hostOrderInput(chunk: Uint8Array, size: number): Uint8Array {
  if (HOST_LITTLE_ENDIAN && chunk.byteOffset % size === 0) return chunk;
  const copy = new Uint8Array(chunk); // a fresh ArrayBuffer at offset 0 (works for Node Buffers too)
  if (!HOST_LITTLE_ENDIAN) swapBytes(copy, size);
  return copy;
}

/** Host-order element bytes → little-endian, in place; returns its argument. */
export function toLittleEndian(bytes: Uint8Array, size: number): Uint8Array {
  if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, size);
  return bytes;
}
