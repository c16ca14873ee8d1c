/**
 * Ranged reads of one Hub file: `GET {endpoint}/{repo}/resolve/{commit}/{path}` with `Range: bytes=a-b`, through
 * the store's transport (range-http.ts, or an injected fetch through the hub fetch; both: token on the endpoint's
 * origin only, redirects to the storage host without it, deadlines scaled to the range, retries). Every answer is checked before a byte is used: 206 with a Content-Range naming
 * exactly the bytes asked and the file's listed size (and a Content-Length, if any, of as many bytes), or 200 for the whole file (or for any part of a file small
 * enough to read whole), and no Content-Encoding (a compressed body is not the file's bytes); anything else, or a body longer or shorter than promised, is an error, never wrong bytes.
 * A connection that drops mid-body is resumed from the byte it reached, a few times.
 */
import { TruecastError } from "../errors.js";

/** Times one range is picked up again after its connection dropped, before the error goes to the caller. */
const MAX_RESUMES = 3;

/** An answer to a ranged read, its body not yet read. */
export interface RangeAnswer {
  status: number;
  headers: Headers;
  /**
   * Copies the body's next bytes into `dest` from `offset` (range-http.ts fills it up to its end); resolves with the
   * number of bytes placed, 0 only when the body has ended. A connection that breaks rejects (HUB_NETWORK), after
   * the bytes that came before the break were handed over by an earlier call.
   */
  fill(dest: Uint8Array, offset: number): Promise<number>;
  /** Stops reading (the connection is dropped unless the body ended). */
  close(): void;
}

export interface RangeTarget {
  /** Sends `GET url` with `Range: bytes=start-(end-1)` through the hub's rules (token, redirects, deadlines, retries). */
  open: (start: number, end: number) => Promise<RangeAnswer>;
  /** The file's size from the listing. */
  size: number;
  /** `hf://org/name@rev/path`, for messages. */
  label: string;
  /** A 200 for a part of the file is accepted (and the bytes around it dropped) when the file is at most this big. */
  wholeUpTo: number;
  /** The error for a failed answer (repo gone, gated, rate-limited). */
  answerError: (status: number, headers: Headers) => TruecastError;
  /** Takes the token out of a message that quotes an answer's header (a server can echo it back). */
  redact?: (text: string) => string;
}

/** A fetch Response as a {@link RangeAnswer} (for a fetch injected by a caller). */
export function fetchAnswer(res: Response): RangeAnswer {
  const reader = res.body?.getReader() ?? null;
  let rest: Uint8Array | null = null;
  return {
    status: res.status,
    headers: res.headers,
    async fill(dest, offset) {
      let at = offset;
      while (at < dest.byteLength) {
        let v: Uint8Array;
        if (rest !== null) v = rest;
        else {
          const r = reader === null ? null : await reader.read();
          if (r === null || r.done) break;
          v = r.value;
        }
        const n = Math.min(v.byteLength, dest.byteLength - at);
        dest.set(v.subarray(0, n), at);
        at += n;
        rest = n === v.byteLength ? null : v.subarray(n);
        // Bytes already placed go back before a read that could fail.
        if (rest === null && at > offset) break;
      }
      return at - offset;
    },
    close: () => void reader?.cancel().catch(() => undefined),
  };
}

function serverError(t: RangeTarget, what: string): TruecastError {
  const message = `${t.label}: ${what}; the bytes are not used (run the same command again, and report it if it persists)`;
  return new TruecastError("HUB_SERVER", t.redact ? t.redact(message) : message);
}

/** The answer, checked (status, Content-Range) before a byte is used, with the bytes to drop before `start`. */
async function openRange(t: RangeTarget, start: number, end: number): Promise<{ answer: RangeAnswer; skip: number; partial: boolean }> {
  const res = await t.open(start, end);
  const drop = () => res.close();
  let skip = 0;
  // Asked with `Accept-Encoding: identity`: a compressed body would not be the file's bytes.
  const encoding = res.headers.get("content-encoding")?.trim().toLowerCase() ?? "";
  if ((res.status === 200 || res.status === 206) && encoding !== "" && encoding !== "identity") {
    drop();
    throw serverError(t, `the answer is compressed (Content-Encoding: ${encoding.slice(0, 40)}) though truecast asked for the bytes as they are`);
  }
  if (res.status === 206) {
    const cr = res.headers.get("content-range") ?? "";
    const m = cr.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
    if (!m || Number(m[1]) !== start || Number(m[2]) !== end - 1 || (m[3] !== "*" && Number(m[3]) !== t.size)) {
      drop();
      const total = m?.[3] !== undefined && m[3] !== "*" && Number(m[3]) !== t.size ? ` (the listing says the file has ${t.size} bytes)` : "";
      throw serverError(t, `asked for bytes ${start}-${end - 1}, the answer says it holds ${cr ? `"${cr.slice(0, 60)}"` : "no Content-Range"}${total}`);
    }
    // A length that disagrees with the range frames the body wrongly: a longer one stalls past the range's last byte
    // until a timeout, a shorter one leaves the rest of the range to be read as the next answer on the connection.
    const declared = res.headers.get("content-length");
    if (declared !== null && Number(declared) !== end - start) {
      drop();
      throw serverError(t, `the answer's Content-Length (${declared.slice(0, 20)}) is not the ${end - start} bytes of its Content-Range "${cr}"`);
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
  return { answer: res, skip, partial: res.status === 206 };
}

/**
 * Bytes [start, end) of the file as chunks of `chunkSize` (the last one shorter), each `alloc(n)` or a fresh
 * buffer, filled straight from the connection; at most one chunk and the connection's own buffers are in memory at
 * a time. `head`: the first bytes of the range, already at hand (from the block cache); only the rest is asked for.
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
    const { answer, skip, partial } = await openRange(t, from, end);
    try {
      // A 200 for a small file: the bytes before the range are read and dropped.
      for (let s = skip, scratch = new Uint8Array(Math.min(skip, 64 * 1024)); s > 0; ) {
        const n = await answer.fill(scratch.subarray(0, Math.min(s, scratch.byteLength)), 0);
        if (n === 0) break;
        s -= n;
      }
      while (pos + filled < end) {
        chunk ??= newChunk();
        let n: number;
        try {
          n = await answer.fill(chunk, filled);
        } catch (e) {
          if (e instanceof TruecastError && e.code === "HUB_NETWORK" && resumes < MAX_RESUMES) break;
          throw e;
        }
        if (n === 0) {
          if (resumes < MAX_RESUMES) break;
          throw new TruecastError("HUB_NETWORK", `${t.label}: the answer ended at byte ${pos + filled} of bytes ${start}-${end - 1}, ${MAX_RESUMES + 1} times; check the connection and run the same command again`);
        }
        filled += n;
        if (filled === chunk.byteLength) {
          // A 206 holds the bytes asked for and nothing more (a 200 for a small file goes on past them: dropped);
          // checked before the last chunk goes out, as the caller may stop reading once it has it.
          if (partial && pos + filled >= end && (await answer.fill(new Uint8Array(1), 0)) > 0) {
            throw serverError(t, `the answer holds more than the ${end - from} bytes asked for`);
          }
          const out = chunk;
          pos += filled;
          filled = 0;
          chunk = null;
          yield out;
        }
      }
    } finally {
      answer.close();
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
