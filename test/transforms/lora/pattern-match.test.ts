import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { compilePattern, MAX_PATTERN_LENGTH } from "../../../src/transforms/lora/pattern-match.js";
import { patternValue } from "../../../src/transforms/lora/scaling.js";
import { modulePatterns, moduleNames } from "./pattern-cases.js";

const peft = (key: string) => compilePattern(`(.*\\.)?(${key})$`);

test("the safe matcher agrees with RegExp on generated PEFT keys and module names", () => {
  const names = moduleNames();
  const keys = modulePatterns(400, 9);
  let hits = 0;
  for (const key of keys) {
    const mine = peft(key);
    const reference = new RegExp(`^(?:.*\\.)?(?:${key.replaceAll("(?P<", "(?<")})$`);
    for (const name of names) {
      const expected = reference.test(name);
      assert.equal(mine.matches(name), expected, `key ${JSON.stringify(key)} on ${name}`);
      if (expected) hits++;
    }
  }
  // The generated set exercises both answers, not only "no match".
  assert.ok(hits > 1000 && hits < keys.length * names.length / 2, `hits ${hits}`);
});

test("Python's re.match: anchored at the start only; $ also matches before a final newline", () => {
  assert.equal(compilePattern("a").matches("ab"), true);
  assert.equal(compilePattern("b").matches("ab"), false);
  assert.equal(compilePattern("a$").matches("a\n"), true);
  assert.equal(compilePattern("a\\Z").matches("a\n"), false);
  assert.equal(compilePattern("a.b").matches("a\nb"), false);
  assert.equal(compilePattern("[]a]+$").matches("]a]"), true);
  assert.equal(compilePattern("\\bq_proj").matches("q_proj"), true);
  assert.equal(compilePattern("x\\Bq").matches("xq"), true);
  assert.equal(compilePattern("a{2,3}$").matches("aaaa"), false);
  assert.equal(compilePattern("a{,2}b").matches("aab"), true);
  assert.equal(compilePattern("a{x}").matches("a{x}"), true);
  assert.equal(compilePattern("(?P<n>q|k)_proj").matches("k_proj"), true);
  assert.equal(compilePattern("\\d+").matches("\u0663"), true); // Arabic-Indic three: a decimal digit for Python's \d
});

test("patterns outside the safe subset, or too long, are refused with ADAPTER_INVALID naming them", () => {
  const refuse = (key: string, why: RegExp) =>
    assert.throws(() => patternValue(new Map([[key, 4]]), "model.q_proj", "c.json"), (e: Error & { code?: string }) => {
      assert.equal(e.code, "ADAPTER_INVALID");
      assert.match(e.message, /^c\.json: pattern ".*" is not a valid regular expression truecast can match safely/);
      assert.match(e.message, why);
      return true;
    });
  refuse("(q)\\3", /backreference/);
  refuse("(?=q)q_proj", /lookaround/);
  refuse("(?i)Q_PROJ", /not supported/);
  refuse("q*+", /multiple repeat/);
  refuse("*q", /nothing to repeat/);
  refuse("[z-a]", /bad character range/);
  refuse("\\q", /bad escape/);
  refuse("(?P<a>q)|(?P<a>k)", /redefinition of group name "a"/);
  refuse("(a{1000}){1000}", /more than 50000 steps/);
  refuse("q".repeat(MAX_PATTERN_LENGTH), /more than the 4096 a pattern may have/);
});

/** Runs patternValue in a child process (a backtracking engine would never return, and would hold Ctrl-C). */
function patternValueInChild(key: string, name: string): { status: number | null; signal: string | null; stdout: string } {
  const scaling = new URL("../../../src/transforms/lora/scaling.js", import.meta.url).href;
  const script =
    `import { patternValue } from ${JSON.stringify(scaling)};` +
    `try { console.log(String(patternValue(new Map([[${JSON.stringify(key)}, 4]]), ${JSON.stringify(name)}, "c.json"))); }` +
    `catch (e) { console.log("truecast: " + e.message); }`;
  const r = spawnSync(process.execPath, ["--input-type=module"], { input: script, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout };
}

test("ReDoS patterns answer at once with PEFT's answer (the process exits on its own)", () => {
  const name = "base_model.model.model.layers.31.self_attn.q_proj";
  const cases: Array<[string, string, string]> = [
    ["(.|.|.)*X", name, "undefined"],
    ["(.|.|.)*q_proj", name, "4"],
    ["(a*)*b", "a".repeat(5000), "undefined"],
    ["((x|x)+)+y", `m.${"x".repeat(3000)}`, "undefined"],
    ["(\\w+\\.?)+z", `${"w.".repeat(2000)}q`, "undefined"],
  ];
  for (const [key, module, expected] of cases) {
    const r = patternValueInChild(key, module);
    assert.equal(r.signal, null, `${key}: killed after the timeout instead of answering`);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), expected, key);
  }
});

test("a module name too long to match within the step budget is refused, not matched slowly", () => {
  const r = patternValueInChild("(a|b|c|d)".repeat(400), `m.${"a".repeat(200_000)}`);
  assert.equal(r.signal, null);
  assert.match(r.stdout, /^truecast: c\.json: pattern .* would take more than 20000000 steps\)\n$/);
});
