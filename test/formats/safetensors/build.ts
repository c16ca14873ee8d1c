/** Hand-built safetensors bytes for tests: a length prefix, header text, and data. */
import { parseHeader, readHeaderSize, type SafetensorsHeader } from "../../../src/formats/safetensors/header.js";

export function stFile(params: {
  /** Header JSON: text as is, or an object to stringify. */
  header: string | object;
  /** Data bytes, or a count of zero bytes. */
  data?: Uint8Array | number;
  /** Override the length prefix. */
  n?: bigint;
  /** Raw header bytes (overrides `header`), e.g. invalid UTF-8. */
  headerBytes?: Uint8Array;
}): Uint8Array {
  const text = typeof params.header === "string" ? params.header : JSON.stringify(params.header);
  const json = params.headerBytes ?? new TextEncoder().encode(text);
  const data = typeof params.data === "number" ? new Uint8Array(params.data) : (params.data ?? new Uint8Array(0));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, params.n ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Parses a whole in-memory file the way the disk reader does: 8 bytes, then N, then the rest. */
export function parseBytes(bytes: Uint8Array, file = "t.safetensors"): SafetensorsHeader {
  const prefix = bytes.subarray(0, 8);
  const n = readHeaderSize({ prefix, fileSize: bytes.length, file });
  return parseHeader({ prefix, headerBytes: bytes.subarray(8, 8 + n), fileSize: bytes.length, file });
}

/** An assert.throws matcher on code and message parts. */
export function fails(code: string, ...parts: Array<string | RegExp>): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof Error) || !("code" in e) || e.code !== code) {
      throw new Error(`expected ${code}, got ${e instanceof Error ? `${"code" in e ? String(e.code) : e.name}: ${e.message}` : String(e)}`);
    }
    for (const p of parts) {
      const ok = typeof p === "string" ? e.message.includes(p) : p.test(e.message);
      if (!ok) throw new Error(`message ${JSON.stringify(e.message)} lacks ${String(p)}`);
    }
    return true;
  };
}
