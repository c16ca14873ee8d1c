/**
 * How deeply a JSON or YAML text nests, found by one linear scan before any parser sees the text: `JSON.parse`
 * and the `yaml` package recurse once per level, so a 20 KB file nested 10,000 deep overflows the stack. Both
 * scans stop as soon as the depth passes `limit`, so they cost at most one pass over the text.
 */

/**
 * The deepest `[`/`{` nesting of a JSON text, counted outside strings; returns early (with a value above
 * `limit`) once `limit` is passed. Malformed text is not judged here: the parser that follows refuses it.
 */
export function jsonNestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/**
 * An upper estimate of a YAML text's nesting: for each line, the column where its content starts (block
 * nesting needs at least one column per level, and compact `- `, `? `, `: ` indicators count as columns too)
 * plus the flow (`[`/`{`) depth open at that point, counted outside quoted scalars and comments. Overestimates
 * only with many unbalanced brackets in plain text, far beyond anything a real config holds.
 */
export function yamlNestingDepth(text: string, limit: number): number {
  let flow = 0;
  let deepest = 0;
  let quote = 0; // 0, or the code of the open quote (' or ")
  let lineStart = true;
  let lineCol = 0;
  let prev = 0x0a;
  for (let i = 0; i < text.length; i++) {
    if (lineStart && quote === 0) {
      lineStart = false;
      let col = 0;
      while (i + col < text.length) {
        const c = text.charCodeAt(i + col);
        const next = text.charCodeAt(i + col + 1);
        const indicator = (c === 0x2d || c === 0x3f || c === 0x3a) && (Number.isNaN(next) || next === 0x20 || next === 0x0a || next === 0x0d);
        if (c !== 0x20 && !indicator) break;
        col++;
      }
      lineCol = col;
      if (col + flow > deepest) {
        deepest = col + flow;
        if (deepest > limit) return deepest;
      }
    }
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      lineStart = true;
    } else if (quote !== 0) {
      if (quote === 0x22 && c === 0x5c) i++;
      else if (c === quote) quote = 0;
    } else if (c === 0x23 && (prev === 0x20 || prev === 0x0a || prev === 0x09)) {
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 0x0a) i++; // a comment runs to the end of the line
    } else if ((c === 0x22 || c === 0x27) && isScalarStart(prev)) {
      quote = c;
    } else if (c === 0x5b || c === 0x7b) {
      flow++;
      if (lineCol + flow > deepest) {
        deepest = lineCol + flow;
        if (deepest > limit) return deepest;
      }
    } else if ((c === 0x5d || c === 0x7d) && flow > 0) {
      flow--;
    }
    prev = text.charCodeAt(i);
  }
  return deepest;
}

/** A quote opens a quoted scalar only where a scalar can start (`it's` is a plain scalar). */
function isScalarStart(prev: number): boolean {
  return prev === 0x20 || prev === 0x0a || prev === 0x09 || prev === 0x5b || prev === 0x7b || prev === 0x2c || prev === 0x3a || prev === 0x2d;
}
