/** The commit / pull request description of `export --push`: its sections, and its bounds on long lists. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { exportDescription, MAX_DESCRIPTION_CHARS, MAX_LIST_ROWS, type DescriptionParams } from "../../src/hub/pr-description.js";

const HASH = "ab".repeat(32);

function params(over: Partial<DescriptionParams> = {}): DescriptionParams {
  return {
    source: "hf://acme/m", sourceKind: "Hugging Face folder (PyTorch)", tensorCount: 3, bitExact: 1, computed: 0, dtype: "float16",
    conversions: ["bfloat16 → float16: 2 tensors, 10 values, 3 changed, 1 became ±inf"],
    sourceFiles: [{ name: "pytorch_model.bin", bytes: 10, sha256: HASH }],
    written: [{ path: "model.safetensors", size: 9, sha256: HASH }],
    deleted: [], keptPickles: [],
    before: { verdict: "no errors, 1 warning", findings: [{ severity: "warning", code: "PICKLE_ONLY", message: "only pickles\nsecond line <b>" }] },
    after: { skipped: "Not audited: the store failed" },
    version: "1.2.3",
    ...over,
  };
}

test("description: precision with conversions, digests, audits (one line each, no HTML)", () => {
  const t = exportDescription(params());
  assert.match(t, /^Exported with truecast 1\.2\.3 from `hf:\/\/acme\/m` \(Hugging Face folder \(PyTorch\)\)\.\n/);
  assert.match(t, /- 1\/3 tensors bit-exact [^\n]*\n- converted bfloat16 → float16: 2 tensors, 10 values, 3 changed, 1 became ±inf\n- dtype: float16\n/);
  assert.ok(t.includes(`| \`pytorch_model.bin\` | 10 | \`${HASH}\` |`));
  assert.ok(t.includes(`| \`model.safetensors\` | 9 | \`${HASH}\` |`));
  assert.match(t, /- \*\*warning\*\* `PICKLE_ONLY`: only pickles second line &lt;b>\n/);
  assert.match(t, /### Audit of the files written \(after\)\n\nNot audited: the store failed\n/);
  assert.doesNotMatch(t, /### Deleted|### Left in place/);
});

test("description: long lists end in 'and N more' and the whole stays under the bound", () => {
  const many = Array.from({ length: 5000 }, (_, i) => `pytorch_model-${String(i + 1).padStart(5, "0")}-of-05000.bin`);
  const t = exportDescription(params({
    sourceFiles: many.map((name) => ({ name, bytes: 1, sha256: HASH })),
    written: many.map((name) => ({ path: name.replace(".bin", ".safetensors"), size: 1, sha256: HASH })),
    deleted: many,
    before: { verdict: "damaged", findings: many.map((f) => ({ severity: "error" as const, code: "PICKLE_UNSAFE_GLOBALS", message: `${f} ${"x".repeat(2000)}` })) },
  }));
  assert.ok(t.length <= MAX_DESCRIPTION_CHARS, String(t.length));
  assert.match(t, new RegExp(`\\| and ${5000 - MAX_LIST_ROWS} more \\| \\| \\|`));
  assert.match(t, new RegExp(`- and ${5000 - MAX_LIST_ROWS} more findings`));
  assert.match(t, new RegExp(`### Deleted by this commit\\n\\n(- \`[^\\n]+\`\\n){${MAX_LIST_ROWS}}- and ${5000 - MAX_LIST_ROWS} more\\n`));
  // Each finding's message is capped.
  assert.ok(t.split("\n").every((l) => l.length < 600), "every line is capped");
});

test("description: names so long that the lists alone pass the bound are cut at a line end, and it says so", () => {
  const name = "n".repeat(180);
  const lots = Array.from({ length: 400 }, (_, i) => ({ severity: "info" as const, code: "X", message: `${i}${name.repeat(3)}` }));
  const t = exportDescription(params({ before: { verdict: "v", findings: lots.slice(0, 40) }, after: { verdict: "v", findings: lots.slice(0, 40) }, sourceFiles: lots.slice(0, 40).map((_, i) => ({ name: `${i}${name}`, bytes: 1, sha256: HASH })), written: lots.slice(0, 40).map((_, i) => ({ path: `${i}${name}`, size: 1, sha256: HASH })), deleted: lots.slice(0, 40).map((_, i) => `${i}${name}`) }));
  assert.ok(t.length <= MAX_DESCRIPTION_CHARS, String(t.length));
  assert.match(t, /\n\n\(description cut at 60000 characters; truecast-report\.json has everything\)\n$/);
});

test("description: hostile names cannot inject Markdown, HTML, mentions or control bytes, nor break a table", () => {
  const evil = "x|y`![pixel](https://evil.example/p.png)[Approve](https://evil.example)<img src=x onerror=alert(1)>@admin\u0000\u001b[31m\u202etxt.exe\u2028";
  const t = exportDescription(params({
    source: `hf://acme/${evil}`,
    sourceFiles: [{ name: `pytorch_model${evil}.bin`, bytes: 1, sha256: HASH }],
    written: [{ path: `model${evil}.safetensors`, size: 1, sha256: HASH }],
    deleted: [`old${evil}.bin`],
    conversions: [`bfloat16 → float16 of ${evil}`],
    before: { verdict: `damaged ${evil}`, findings: [{ severity: "error", code: "PICKLE_UNSAFE_GLOBALS", message: `tensor ${evil} wants ${evil}` }] },
    after: { skipped: `Not audited: ${evil}` },
  }));
  // No control bytes, no bidi override, no line separator: only the description's own line breaks.
  assert.doesNotMatch(t, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
  // No live image, link or HTML tag, no mention, outside inline code.
  const prose = t.replace(/`[^`\n]*`/g, "CODE");
  assert.doesNotMatch(prose, /(^|[^\\])!\[|(^|[^\\])\[[^\]\n]*[^\\]\]\(|<img|(^|[^\\])@admin/m);
  // Each table row keeps its three cells: a '|' in a name is escaped, so GFM does not split on it.
  for (const row of t.split("\n").filter((l) => l.startsWith("| `"))) assert.equal(row.replace(/\\\|/g, "").split("|").length, 5, row);
});
