/**
 * Reading the Hub's JSON answers as untrusted input: a body that is not JSON, or JSON of the wrong shape (an array
 * where an object belongs, a string where a number does, a missing field), is one HUB_SERVER line naming the URL
 * (without its query, which can hold signatures) and what was wrong, never a TypeError from deep inside.
 * The body's size is capped by hub-fetch before it gets here.
 */
import { TruecastError } from "../errors.js";

/** The URL of an answer for a message: origin and path, no query. */
export function answerUrl(res: Response, fallback: string): string {
  try {
    const u = new URL(res.url || fallback);
    return u.origin + u.pathname;
  } catch {
    return fallback;
  }
}

/** A HUB_SERVER error for an answer that is not what the protocol says. */
export function malformed(url: string, what: string): TruecastError {
  return new TruecastError("HUB_SERVER", `the Hub's answer from ${url} is malformed: ${what}; run the same command again, and report it if it persists`);
}

/** The answer's body parsed as JSON; HUB_SERVER when it is not JSON. */
export async function readJson(res: Response, fallbackUrl: string): Promise<unknown> {
  const url = answerUrl(res, fallbackUrl);
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw malformed(url, `not JSON (${text.length === 0 ? "empty" : `${text.length} characters starting ${JSON.stringify(text.slice(0, 24))}`})`);
  }
}

/** The JSON type of a value, as a message says it. */
export function jsonType(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** The answer as a JSON object; HUB_SERVER for anything else. */
export async function readJsonObject(res: Response, fallbackUrl: string): Promise<Record<string, unknown>> {
  const v = await readJson(res, fallbackUrl);
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw malformed(answerUrl(res, fallbackUrl), `expected an object, got ${jsonType(v)}`);
  return v as Record<string, unknown>;
}

/** `obj[key]` when it is a string; HUB_SERVER naming the field otherwise. */
export function stringField(obj: Record<string, unknown>, key: string, url: string): string {
  const v = obj[key];
  if (typeof v !== "string") throw malformed(url, `"${key}" is ${v === undefined ? "missing" : jsonType(v)}, expected a string`);
  return v;
}

/** `obj[key]` when it is a non-negative safe integer; HUB_SERVER naming the field otherwise. */
export function sizeField(obj: Record<string, unknown>, key: string, url: string): number {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw malformed(url, `"${key}" is ${v === undefined ? "missing" : typeof v === "number" ? String(v) : jsonType(v)}, expected a byte count`);
  }
  return v;
}
