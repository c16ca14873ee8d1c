/**
 * Text bound for a terminal, made inert. Tensor names, file names, pickle globals and server answers are
 * written by others: a name holding `\n` could forge a line such as `bit-exact: 1/1`, `ESC[2J` clears the
 * screen, an OSC sequence retitles the window, and a bidi override reorders what the user reads. Every human
 * line the CLI prints passes through here (JSON output escapes by itself).
 */

/** C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, and the Unicode line/paragraph separators. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u001b": "\\e" };

/**
 * `s` with every control character (newlines included), bidi control and line separator replaced by a visible
 * escape: `\n`, `\r`, `\t`, `\e` for ESC, `\xHH` for other C0/C1 bytes and DEL, `\u{HHHH}` for the rest.
 */
export function escapeTerminal(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/** Lines of a human report joined for the terminal: each escaped, so only the joins are real newlines. */
export function terminalLines(lines: readonly string[]): string {
  return lines.map(escapeTerminal).join("\n") + "\n";
}
