/**
 * The files of a repo at a revision: `GET /api/models/{repo}/tree/{rev}?recursive=true`, paged with a
 * `Link: <…>; rel="next"` header. Every page goes through the session's fetch (deadline, size cap, token on the
 * endpoint's origin only) and is checked entry by entry; the walk stops with one clear line when the pages do not
 * end (MAX_TREE_PAGES), come back to a page already read, or point to another host.
 */
import { TruecastError } from "../errors.js";
import { answerUrl, jsonType, malformed, readJson, sizeField, stringField } from "./hub-json.js";
import { apiError, type HubTarget } from "./repo-setup.js";

/**
 * Pages read before giving up. The Hub sends up to 1000 entries a page without `expand`: 1000 pages is up to a
 * million files, far past any model repo, and a server whose `next` never ends is stopped in seconds, not after
 * 485k requests.
 */
export const MAX_TREE_PAGES = 1000;
/** Entries kept before giving up (each costs a few hundred bytes of memory): no model repo comes near. */
export const MAX_TREE_ENTRIES = 1_000_000;

export interface TreeFile {
  path: string;
  size: number;
  /** Git blob id (of the file itself, or of its LFS pointer). */
  oid: string | undefined;
  lfs: { oid: string; size: number } | undefined;
}

/** The `rel="next"` URL of a Link header, or null. */
export function nextLink(header: string | null): string | null {
  if (header === null) return null;
  for (const part of header.split(",")) {
    const m = part.match(/^\s*<([^>]*)>\s*;(.*)$/);
    if (m && /(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(m[2] ?? "")) return m[1] ?? null;
  }
  return null;
}

function entry(item: unknown, i: number, url: string): TreeFile | null {
  if (item === null || typeof item !== "object" || Array.isArray(item)) throw malformed(url, `entry ${i} is ${jsonType(item)}, expected an object`);
  const o = item as Record<string, unknown>;
  const type = stringField(o, "type", url);
  const path = stringField(o, "path", url);
  if (type !== "file") return null;
  const size = sizeField(o, "size", url);
  const oid = o.oid === undefined ? undefined : stringField(o, "oid", url);
  let lfs: TreeFile["lfs"];
  if (o.lfs !== undefined && o.lfs !== null) {
    if (typeof o.lfs !== "object" || Array.isArray(o.lfs)) throw malformed(url, `"lfs" of ${JSON.stringify(path)} is ${jsonType(o.lfs)}, expected an object`);
    const l = o.lfs as Record<string, unknown>;
    lfs = { oid: stringField(l, "oid", url), size: sizeField(l, "size", url) };
  }
  return { path, size, oid, lfs };
}

/** Every file of the repo at `revision` (directories are skipped). */
export async function listTree(t: HubTarget, revision: string): Promise<TreeFile[]> {
  const endpointOrigin = new URL(t.endpoint).origin;
  let url: string | null = `${t.endpoint}/api/models/${t.repo.full}/tree/${encodeURIComponent(revision)}?recursive=true&expand=false`;
  const seen = new Set<string>();
  const files: TreeFile[] = [];
  let entries = 0;
  while (url !== null) {
    const here: string = url;
    if (seen.size >= MAX_TREE_PAGES) {
      throw new TruecastError("HUB_SERVER", `the Hub's tree listing of ${t.repo.full} did not end after ${MAX_TREE_PAGES} pages (last asked: ${new URL(here).pathname}); no model repo has that many files`);
    }
    seen.add(here);
    const res = await t.fetch(here, { headers: { Accept: "application/json" } });
    if (!res.ok) throw await apiError(res);
    const items = await readJson(res, here);
    if (!Array.isArray(items)) throw malformed(answerUrl(res, here), `the tree listing is ${jsonType(items)}, expected an array`);
    entries += items.length;
    if (entries > MAX_TREE_ENTRIES) throw new TruecastError("HUB_SERVER", `the Hub's tree listing of ${t.repo.full} has more than ${MAX_TREE_ENTRIES} entries; no model repo has that many files`);
    items.forEach((item, i) => {
      const f = entry(item, i, answerUrl(res, here));
      if (f) files.push(f);
    });
    const next = nextLink(res.headers.get("link"));
    if (next === null) break;
    let resolved: URL;
    try {
      resolved = new URL(next, here);
    } catch {
      throw malformed(answerUrl(res, here), `its Link header names an invalid next page ${JSON.stringify(next.slice(0, 80))}`);
    }
    if (resolved.origin !== endpointOrigin) {
      throw malformed(answerUrl(res, here), `its next page is on another host (${resolved.host}); truecast only follows pages of ${endpointOrigin}`);
    }
    if (seen.has(resolved.href)) throw malformed(answerUrl(res, here), `its next page ${resolved.origin}${resolved.pathname} was already read (the pages loop)`);
    url = resolved.href;
  }
  return files;
}
