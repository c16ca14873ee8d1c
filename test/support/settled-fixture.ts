import { stat } from "node:fs/promises";
import { RACY_MS } from "../../src/export/digest-cache.js";
import { fixture } from "../helpers.js";

/**
 * A committed fixture whose digest the digest cache records: its ctime is the checkout's, long before the test, so it
 * is not racily clean (export/digest-cache.ts); in a fresh checkout, the margin is waited out first.
 */
export async function settledFixture(...parts: string[]): Promise<string> {
  const path = fixture(...parts);
  const ctime = (await stat(path)).ctimeMs;
  if (Date.now() - ctime < RACY_MS + 500) await new Promise((r) => setTimeout(r, RACY_MS + 500 - (Date.now() - ctime)));
  return path;
}
