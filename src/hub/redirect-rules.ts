/**
 * The Hub's rules for the token and for redirects, in one place for both request layers (hub-fetch.ts, the fetch
 * every API call and upload goes through, and store/range-http.ts, the transport of file bytes):
 * - the token goes to the endpoint's origin only, and only while a request has not left it: once a redirect took it
 *   to another origin (the storage host), no later hop carries the token, even one that leads back (a storage host
 *   must not be able to make truecast send the token to a path of its choosing);
 * - no message holds the token ({@link redactToken}), even one quoting a server that echoed it back;
 * - a redirect is followed at most {@link MAX_REDIRECTS} times, only to http(s) URLs, and never from https to http
 *   (a downgrade would hand the bytes, and what they say, to anyone on the path).
 */
import { TruecastError } from "../errors.js";

/** Redirect hops followed for one request before giving up. */
export const MAX_REDIRECTS = 5;

/** Shortest start of the token taken out of a text on its own: long enough never to be a word of a message. */
const MIN_REDACTED_PREFIX = 8;

/**
 * Replace every occurrence of the token (and of anything that looks like a bearer header) in a text, and of its first
 * {@link MIN_REDACTED_PREFIX} or more characters: a message quotes a server's text cut short (a status line, a header
 * value), and a token echoed there can end the quote half.
 */
export function redactToken(text: string, token: string): string {
  let out = text;
  if (token.length > 0) {
    out = out.split(token).join("hf_***");
    for (let k = token.length - 1; k >= MIN_REDACTED_PREFIX; k--) out = out.split(token.slice(0, k)).join("hf_***");
  }
  return out.replace(/Bearer\s+[^\s"',]+/gi, "Bearer ***");
}

/** The token's scope: the endpoint's origin, and whether a hop of the current request has left it. */
export class TokenScope {
  readonly origin: string;

  constructor(endpoint: string, readonly token: string) {
    this.origin = new URL(endpoint).origin;
  }

  /** Whether a request to `url` gets the token; `left`: an earlier hop of the same request went to another origin. */
  sendsTo(url: URL, left: boolean): boolean {
    return this.token !== "" && !left && url.origin === this.origin;
  }

  /** `Bearer <token>` for `url`, or null. */
  authorization(url: URL, left: boolean): string | null {
    return this.sendsTo(url, left) ? `Bearer ${this.token}` : null;
  }

  /** How a message names `url`: the endpoint's path, or the storage host (never a query string, which may hold a signature). */
  where(url: URL): string {
    return url.origin === this.origin ? `${url.origin}${url.pathname}` : `the storage host ${url.host}`;
  }
}

/**
 * The URL a redirect from `from` (hop number `hop`, from 0) to `location` leads to, or a HUB_SERVER error: too many
 * hops, an unreadable location, a scheme other than http(s), or a downgrade from https to http.
 */
export function redirectTarget(from: URL, location: string, hop: number): URL {
  const here = `${from.origin}${from.pathname}`;
  if (hop >= MAX_REDIRECTS) throw new TruecastError("HUB_SERVER", `too many redirects from ${here}`);
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new TruecastError("HUB_SERVER", `${here} redirected to an unreadable location; the answer is not used`);
  }
  if (next.protocol !== "https:" && next.protocol !== "http:") {
    throw new TruecastError("HUB_SERVER", `${here} redirected to a ${next.protocol} URL; truecast follows redirects to http(s) only`);
  }
  if (from.protocol === "https:" && next.protocol === "http:") {
    throw new TruecastError("HUB_SERVER", `${here} redirected from https to plain http (${next.host}); truecast does not follow a redirect that drops encryption`);
  }
  return next;
}
