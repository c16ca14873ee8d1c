/**
 * What the LFS batch answer may make truecast do, checked before a byte is sent. The answer names URLs and headers
 * on hosts the Hub chooses (its storage host); a hostile or broken answer must not turn into a request truecast
 * would not make of its own accord:
 * - every URL (upload, parts, completion, verify) is http(s), and https when the endpoint is (an upload over plain
 *   http would hand the file to anyone on the path);
 * - header names and values are what HTTP allows (no CR, LF or NUL that would split a request), and the headers that
 *   belong to the transport or to the token (Host, Authorization, Cookie, Content-Length, Transfer-Encoding, ...)
 *   are dropped: hub-fetch.ts decides those;
 * - a multipart upload has at most {@link MAX_MULTIPART_PARTS} parts.
 * The token itself never goes to another origin whatever the answer says: hub-fetch.ts (redirect-rules.ts) sees to it.
 */

/** Parts of one multipart upload: S3's own limit, which the Hub's storage uses; more is not an honest answer. */
export const MAX_MULTIPART_PARTS = 10_000;

/** Header names an action may not set: the transport's and the credentials' (hub-fetch.ts sets those). */
const DROPPED_HEADERS = new Set([
  "host", "authorization", "proxy-authorization", "cookie", "content-length", "transfer-encoding", "connection",
  "keep-alive", "te", "trailer", "upgrade", "expect",
]);

/** RFC 9110 token characters, for a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible characters, spaces and tabs (obs-text allowed); no CR, LF, NUL or other control byte. */
const HEADER_VALUE = /^[\t\u0020-\u007e\u0080-\u00ff]*$/;

/** Why `href` is not a URL an LFS action may send to (null when it is fine). */
export function actionUrlProblem(endpoint: string, href: string): string | null {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return "an unreadable URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `a ${url.protocol} URL (only http(s) is sent to)`;
  if (url.protocol === "http:" && new URL(endpoint).protocol === "https:") return `a plain http URL on ${url.host} (the Hub is https: nothing is sent unencrypted)`;
  return null;
}

/**
 * The headers an action may set (names lower-cased, transport and credential headers dropped), or why they are not
 * headers: a name or a value HTTP does not allow.
 */
export function actionHeaders(header: Readonly<Record<string, string>>): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (!HEADER_NAME.test(name)) return `a header name ${JSON.stringify(name.slice(0, 40))} that HTTP does not allow`;
    if (!HEADER_VALUE.test(value)) return `a value of header ${name} with a line break or a control character`;
    if (!DROPPED_HEADERS.has(name.toLowerCase())) out[name.toLowerCase()] = value;
  }
  return out;
}
