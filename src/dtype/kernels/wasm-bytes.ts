/**
 * The few encodings that hand-assembled WebAssembly modules share (the SIMD cast kernels here, the LoRA merge
 * kernel): LEB128 integers, `i32.const`, sections and names. Modules are written as byte arrays so that the
 * package needs no toolchain and no build step at install.
 */

/** Unsigned LEB128 of `n` (0 ≤ n < 2^32). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** `i32.const n` (signed LEB128; n an int32). */
export function i32Const(n: number): number[] {
  const out: number[] = [0x41];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

/** A module section: its id, its length, its content. */
export function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A name as a module's export section spells it (ASCII only). */
export function name(text: string): number[] {
  return [text.length, ...[...text].map((ch) => ch.charCodeAt(0))];
}
