/**
 * Exact edits of a JSON object's top-level members: a value is replaced or a member inserted, and every other
 * character of the text stays as it was (number spellings such as `2.0` and `1e-05`, key order, indentation,
 * `\u00e9` escapes, CRLF, a final newline or none). Re-serializing would lose those, and transformers refuses a
 * config whose `rope_scaling.factor` became `2` instead of `2.0`.
 *
 * The text must already be valid JSON (callers parse it first, with its size and depth checked); this module
 * only locates members. Offsets are UTF-16 code unit offsets into the string.
 */

/** One top-level member: the spans of its key (with quotes) and of its value. */
export interface JsonMemberSpan {
  readonly key: string;
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** The top-level object of a JSON text: where its braces are and its members in order (duplicates included). */
export interface JsonObjectSpans {
  readonly open: number;
  readonly close: number;
  readonly members: readonly JsonMemberSpan[];
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** End (exclusive) of the string starting at `i` (its opening quote). */
function stringEnd(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  throw new Error("unterminated string");
}

/** End (exclusive) of the value starting at `i`: a string, a nested object or array, or a literal or number. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return stringEnd(text, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (; i < text.length; i++) {
      const d = text.charCodeAt(i);
      if (d === 0x22) i = stringEnd(text, i) - 1;
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    throw new Error("unbalanced brackets");
  }
  while (i < text.length) {
    const d = text.charCodeAt(i);
    if (isSpace(d) || d === 0x2c || d === 0x7d || d === 0x5d) break;
    i++;
  }
  return i;
}

/**
 * Locates the members of the top-level object of `text`, which must be valid JSON. Returns null when the
 * top-level value is not an object.
 */
export function topLevelMembers(text: string): JsonObjectSpans | null {
  const open = skipSpace(text, 0);
  if (text.charCodeAt(open) !== 0x7b) return null;
  const members: JsonMemberSpan[] = [];
  let i = skipSpace(text, open + 1);
  if (text.charCodeAt(i) === 0x7d) return { open, close: i, members };
  for (;;) {
    const keyStart = i;
    const keyEnd = stringEnd(text, keyStart);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    i = skipSpace(text, keyEnd) + 1; // past ':'
    const valueStart = skipSpace(text, i);
    const end = valueEnd(text, valueStart);
    members.push({ key, keyStart, keyEnd, valueStart, valueEnd: end });
    i = skipSpace(text, end);
    if (text.charCodeAt(i) === 0x7d) return { open, close: i, members };
    i = skipSpace(text, i + 1); // past ','
  }
}

/** One member to set: its key, its value as JSON text, and the keys it should be placed beside if inserted. */
export interface JsonMemberEdit {
  readonly key: string;
  /** The new value, already JSON (`"bfloat16"`, `32000`). */
  readonly json: string;
  /** Keys next to which a missing member is inserted (after the first one present); else it goes last. */
  readonly siblings?: readonly string[];
}

interface Insertion {
  readonly at: number;
  readonly text: string;
}

/** True when the keys are in code-point order, as Python's `json.dumps(sort_keys=True)` writes them. */
function isSorted(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if ((keys[i - 1] as string) > (keys[i] as string)) return false;
  return keys.length > 1;
}

/**
 * Sets top-level members of the JSON object in `text`, changing nothing else. A member present has its value
 * replaced (every occurrence of a duplicated key, so JSON.parse's and Python's last-wins reading agrees with
 * the first-wins one); a missing one is inserted with the separators the file already uses: in key order if
 * the members are sorted, else right after its first sibling present, else as the last member. Returns `text`
 * itself when every value already reads exactly `json`. Throws if the top-level value is not an object.
 */
export function setTopLevelMembers(text: string, edits: readonly JsonMemberEdit[]): string {
  const obj = topLevelMembers(text);
  if (obj === null) throw new Error("the top-level JSON value is not an object");
  const replacements: Array<{ start: number; end: number; text: string }> = [];
  const missing: JsonMemberEdit[] = [];
  for (const edit of edits) {
    const found = obj.members.filter((m) => m.key === edit.key);
    if (found.length === 0) missing.push(edit);
    for (const m of found) {
      if (text.slice(m.valueStart, m.valueEnd) !== edit.json) replacements.push({ start: m.valueStart, end: m.valueEnd, text: edit.json });
    }
  }
  if (replacements.length === 0 && missing.length === 0) return text;
  const insertions = missing.length === 0 ? [] : plan(text, obj, missing);
  const changes = [...replacements, ...insertions.map((n) => ({ start: n.at, end: n.at, text: n.text }))];
  changes.sort((a, b) => b.start - a.start); // apply from the end so that earlier offsets stay valid
  let out = text;
  for (const c of changes) out = out.slice(0, c.start) + c.text + out.slice(c.end);
  return out;
}

/** Where and how to insert the missing members. */
function plan(text: string, obj: JsonObjectSpans, missing: readonly JsonMemberEdit[]): Insertion[] {
  const { members } = obj;
  if (members.length === 0) {
    const inside = text.slice(obj.open + 1, obj.close);
    const nl = inside.includes("\r\n") ? "\r\n" : "\n";
    const entries = missing.map((e) => `${JSON.stringify(e.key)}: ${e.json}`);
    const body = inside.includes("\n") ? nl + entries.map((e) => "  " + e).join("," + nl) : entries.join(", ");
    return [{ at: obj.open + 1, text: body }];
  }
  const first = members[0] as JsonMemberSpan;
  // The separator between members as this file writes it: what follows a comma, or what follows `{`.
  const second = members[1];
  let sep = second ? text.slice(text.indexOf(",", first.valueEnd) + 1, second.keyStart) : text.slice(obj.open + 1, first.keyStart);
  if (!second && !sep.includes("\n")) sep = " ";
  const colon = text.slice(first.keyEnd, first.valueStart);
  const entry = (e: JsonMemberEdit) => `${JSON.stringify(e.key)}${colon}${e.json}`;
  const keys = members.map((m) => m.key);
  const sorted = isSorted(keys);
  const out: Insertion[] = [];
  for (const e of missing) {
    if (sorted) {
      const next = members.find((m) => m.key > e.key);
      if (next === undefined) out.push({ at: (members[members.length - 1] as JsonMemberSpan).valueEnd, text: `,${sep}${entry(e)}` });
      else out.push({ at: next.keyStart, text: `${entry(e)},${sep}` });
      continue;
    }
    const sibling = (e.siblings ?? []).map((k) => members.filter((m) => m.key === k).pop()).find((m) => m !== undefined);
    const after = sibling ?? (members[members.length - 1] as JsonMemberSpan);
    out.push({ at: after.valueEnd, text: `,${sep}${entry(e)}` });
  }
  // Several members inserted at one point: in key order in a sorted object, else in the order asked.
  const ranked = out.map((n, i) => ({ ...n, rank: sorted ? (missing[i] as JsonMemberEdit).key : String(i).padStart(8, "0") }));
  ranked.sort((x, y) => x.at - y.at || (x.rank < y.rank ? -1 : 1));
  const merged: Insertion[] = [];
  for (const n of ranked) {
    const last = merged[merged.length - 1];
    if (last && last.at === n.at) merged[merged.length - 1] = { at: n.at, text: last.text + n.text };
    else merged.push({ at: n.at, text: n.text });
  }
  return merged;
}
