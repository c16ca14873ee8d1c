/** Pickle's integer and float arguments, parsed as CPython's unpickler parses them (or refused where it would differ). */

/** Little-endian two's complement, as LONG1/LONG4 store it; a safe integer becomes a number. */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  if (((bytes[bytes.length - 1] ?? 0) & 0x80) !== 0) v -= 1n << BigInt(bytes.length * 8);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * The argument of INT, LONG, PUT or GET as a decimal integer (LONG's trailing `L` removed), or null. Python reads
 * these with base 0 (`0x10`, `0o7` and, for INT, C's octal `010`), so anything but plain decimal is refused
 * rather than read differently.
 */
export function parseDecimal(text: string): number | bigint | null {
  const t = text.endsWith("L") ? text.slice(0, -1) : text;
  if (!/^[+-]?(0|[1-9]\d*)$/.test(t)) return null;
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The argument of FLOAT as Python's float parser reads it, or null (including an overflow, which Python refuses). */
export function parseFloatArg(text: string): number | null {
  if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(text)) return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  const v = Number(text);
  return Number.isFinite(v) ? v : null;
}
