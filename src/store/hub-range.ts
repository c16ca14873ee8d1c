/**
 * Ranged reads of one Hub file: `GET {endpoint}/{repo}/resolve/{commit}/{path}` with `Range: bytes=a-b`, through
 * the session's hub fetch (token on the endpoint's origin only, redirects to the storage host without it, deadlines
 * scaled to the range, retries). Every answer is checked before a byte is used: 206 with a Content-Range naming
 * exactly the bytes asked and the file's listed size, or 200 for the whole file (or for any part of a file small
 * enough to read whole); anything else, or a body longer or shorter than promised, is an error, never wrong bytes.
 * A connection that drops mid-body is resumed from the byte it reached, a few times.
 */
import { TruecastError } from "../errors.js";

/** Times one range is picked up again after its connection dropped, before the error goes to the caller. */
const MAX_RESUMES = 3;

export interface RangeTarget {
  /** The hub fetch (counting requests and bytes). */
  fetch: typeof fetch;
  /** The file's resolve URL, at the pinned commit. */
  url: string;
  /** The file's size from the listing. */
  size: number;
  /** `hf://org/name@rev/path`, for messages. */
  label: string;
  /** A 200 for a part of the file is accepted (and the bytes around it dropped) when the file is at most this big. */
  wholeUpTo: number;
  /** The error for a failed answer (repo gone, gated, rate-limited). */
  answerError: (status: number, headers: Headers) => TruecastError;
}

function serverError(t: RangeTarget, what: string): TruecastError {
  return new TruecastError("HUB_SERVER", `${t.label}: ${what}; the bytes are not used (run the same command again, and report it if it persists)`);
}

/** The answer's body reader, positioned at `start`; checks status and Content-Range first. */
async function openRange(t: RangeTarget, start: number, end: number): Promise<ReadableStreamDefaultReader<Uint8Array> & { skip: number; partial: boolean }> {
  const res = await t.fetch(t.url, { headers: { Range: `bytes=${start}-${end - 1}` } });
  const drop = () => void res.body?.cancel().catch(() => undefined);
  let skip = 0;
  if (res.status === 206) {
    const cr = res.headers.get("content-range") ?? "";
    const m = cr.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
    if (!m || Number(m[1]) !== start || Number(m[2]) !== end - 1 || (m[3] !== "*" && Number(m[3]) !== t.size)) {
      drop();
      const total = m?.[3] !== undefined && m[3] !== "*" && Number(m[3]) !== t.size ? ` (the listing says the file has ${t.size} bytes)` : "";
      throw serverError(t, `asked for bytes ${start}-${end - 1}, the answer says it holds ${cr ? `"${cr.slice(0, 60)}"` : "no Content-Range"}${total}`);
    }
  } else if (res.status === 200) {
    const declared = res.headers.get("content-length");
    if (declared !== null && Number(declared) !== t.size) {
      drop();
      throw serverError(t, `the whole file was sent with ${declared} bytes, the listing says ${t.size}`);
    }
    if (!(start === 0 && end === t.size) && t.size > t.wholeUpTo) {
      drop();
      throw serverError(t, `the server ignored the byte range (HTTP 200 for bytes ${start}-${end - 1} of a ${t.size}-byte file); truecast does not download a whole large file to read a part`);
    }
    skip = start;
  } else if (res.status === 416) {
    drop();
    throw serverError(t, `the server refused bytes ${start}-${end - 1} (HTTP 416): the file is not the ${t.size} bytes the listing says`);
  } else if (res.status >= 400) {
    drop();
    throw t.answerError(res.status, res.headers);
  } else {
    drop();
    throw serverError(t, `unexpected HTTP ${res.status} to a ranged read`);
  }
  if (res.body === null) throw serverError(t, `HTTP ${res.status} without a body`);
  return Object.assign(res.body.getReader(), { skip, partial: res.status === 206 });
}

/**
 * Bytes [start, end) of the file as chunks of `chunkSize` (the last one shorter), each `alloc(n)` or a fresh
 * buffer; at most one chunk and the connection's own buffers are in memory at a time. `head`: the first bytes of
 * the range, already at hand (from the block cache); only the rest is asked for.
 */
export async function* streamRange(
  t: RangeTarget,
  start: number,
  end: number,
  chunkSize: number,
  alloc?: (byteLength: number) => Uint8Array,
  head?: Uint8Array,
): AsyncGenerator<Uint8Array, void, undefined> {
  let pos = start;
  let resumes = 0;
  let chunk: Uint8Array | null = null;
  let filled = 0;
  const newChunk = (): Uint8Array => {
    const n = Math.min(chunkSize, end - pos - filled);
    const c = alloc ? alloc(n) : new Uint8Array(n);
    if (c.byteLength !== n) throw new TruecastError("INTERNAL", `chunks: alloc gave ${c.byteLength} bytes for ${n}`);
    return c;
  };
  for (let v = head?.subarray(0, end - start) ?? new Uint8Array(0); v.byteLength > 0; ) {
    chunk ??= newChunk();
    const n = Math.min(v.byteLength, chunk.byteLength - filled);
    chunk.set(v.subarray(0, n), filled);
    filled += n;
    v = v.subarray(n);
    if (filled === chunk.byteLength) {
      const out = chunk;
      pos += filled;
      filled = 0;
      chunk = null;
      yield out;
    }
  }
  while (pos + filled < end) {
    // pos: the first byte not yet yielded; the current chunk holds `filled` bytes from pos.
    const from = pos + filled;
    const reader = await openRange(t, from, end);
    const partial = reader.partial;
    let skip = reader.skip;
    let got = from;
    try {
      while (got < end) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (e) {
          if (e instanceof TruecastError && e.code === "HUB_NETWORK" && resumes < MAX_RESUMES) break;
          throw e;
        }
        if (r.done) {
          if (resumes < MAX_RESUMES) break;
          throw new TruecastError("HUB_NETWORK", `${t.label}: the answer ended at byte ${got} of bytes ${start}-${end - 1}, ${MAX_RESUMES + 1} times; check the connection and run the same command again`);
        }
        let v = r.value;
        if (skip > 0) {
          const s = Math.min(skip, v.byteLength);
          skip -= s;
          v = v.subarray(s);
        }
        while (v.byteLength > 0 && got < end) {
          chunk ??= newChunk();
          const n = Math.min(v.byteLength, chunk.byteLength - filled);
          chunk.set(v.subarray(0, n), filled);
          filled += n;
          got += n;
          v = v.subarray(n);
          if (filled === chunk.byteLength) {
            // A 206 holds the bytes asked for and nothing more (a 200 for a small file goes on past them: dropped);
            // checked before the last chunk goes out, as the caller may stop reading once it has it.
            if (partial && got >= end && (v.byteLength > 0 || !(await reader.read()).done)) {
              throw serverError(t, `the answer holds more than the ${end - from} bytes asked for`);
            }
            const out = chunk;
            pos += filled;
            filled = 0;
            chunk = null;
            yield out;
          }
        }
      }
    } finally {
      void reader.cancel().catch(() => undefined);
    }
    if (pos + filled < end) resumes++;
  }
}

/** Exactly bytes [start, end) of the file, in one buffer. */
export async function fetchRange(t: RangeTarget, start: number, end: number): Promise<Uint8Array> {
  if (end <= start) return new Uint8Array(0);
  for await (const c of streamRange(t, start, end, end - start)) return c;
  throw new TruecastError("INTERNAL", "fetchRange: no bytes");
}
