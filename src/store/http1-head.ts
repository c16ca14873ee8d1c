/**
 * The head of an HTTP/1.1 answer (status line and header fields, RFC 9112), read strictly, for truecast's own client
 * of bulk range reads (http1-conn.ts): a server truecast does not control gets no leniency that could make two
 * readers of the same bytes disagree on where the body starts or ends. Refused with one line: a head over
 * {@link MAX_HEAD_BYTES}, a malformed status line, a bare LF or a control character, obs-fold (a line starting with
 * a space), a field name that is not a token, more than one Content-Length (even equal ones) or one that is not a
 * number, a Transfer-Encoding other than exactly `chunked`, or one sent together with a Content-Length.
 */

/** Largest head read (status line and fields): Node's own client stops at 16 KiB; real Hub and S3 heads are ~2 KiB. */
export const MAX_HEAD_BYTES = 64 * 1024;

/** How the body of an answer ends. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** No length given: the body runs until the server closes the connection (which then cannot be kept). */
  | { kind: "close" };

export interface AnswerHead {
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: 0 | 1;
  status: number;
  headers: Headers;
  framing: BodyFraming;
  /** Whether the connection may carry another request once this answer's body is read (HTTP/1.1, no `close`). */
  keepAlive: boolean;
}

/** An answer that is not valid HTTP/1.1; the connection is not used again. */
export class HttpProtocolError extends Error {}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible characters, space, tab and obs-text; no other control character (NUL, CR, DEL...). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Index of the CRLF CRLF that ends a head in `b` (searching from `from`), or -1. */
export function headEnd(b: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i + 3 < b.byteLength; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * The head in `raw` (latin1, without the final empty line) of an answer to a GET. Throws {@link HttpProtocolError}.
 */
export function parseHead(raw: string): AnswerHead {
  const lines = raw.split("\r\n");
  const statusLine = lines[0] ?? "";
  if (lines.some((l) => /[\r\n]/.test(l))) throw new HttpProtocolError("a line of the head ends with a bare CR or LF");
  const m = STATUS_LINE.exec(statusLine);
  if (!m) throw new HttpProtocolError(`the status line is not HTTP/1.x: ${JSON.stringify(statusLine.slice(0, 40))}`);
  const minor = m[1] === "1" ? 1 : 0;
  const status = Number(m[2]);
  const headers = new Headers();
  let lengths = 0;
  for (const line of lines.slice(1)) {
    if (line.startsWith(" ") || line.startsWith("\t")) throw new HttpProtocolError("the head folds a header over two lines (obs-fold), which HTTP/1.1 forbids");
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new HttpProtocolError(`a header line is not "name: value": ${JSON.stringify(line.slice(0, 40))}`);
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HttpProtocolError(`the header ${name} holds a control character`);
    if (name.toLowerCase() === "content-length") lengths++;
    headers.append(name, value);
  }
  const cl = headers.get("content-length");
  const te = headers.get("transfer-encoding");
  if (lengths > 1 || (cl !== null && !/^\d{1,15}$/.test(cl))) {
    throw new HttpProtocolError(`the answer's Content-Length is ${lengths > 1 ? "given more than once" : `not a number (${JSON.stringify(cl?.slice(0, 20))})`}`);
  }
  const keepAlive = minor === 1 && !(headers.get("connection") ?? "").split(",").some((t) => t.trim().toLowerCase() === "close");
  let framing: BodyFraming;
  if ((status >= 100 && status < 200) || status === 204 || status === 304) framing = { kind: "none" };
  else if (te !== null) {
    if (te.trim().toLowerCase() !== "chunked" || minor === 0) throw new HttpProtocolError(`the answer's Transfer-Encoding is "${te.slice(0, 40)}"; truecast reads only "chunked" (HTTP/1.1)`);
    if (cl !== null) throw new HttpProtocolError("the answer gives both Transfer-Encoding and Content-Length");
    framing = { kind: "chunked" };
  } else if (cl !== null) framing = { kind: "length", length: Number(cl) };
  else framing = { kind: "close" };
  return { minor, status, headers, framing, keepAlive: keepAlive && framing.kind !== "close" };
}
