/**
 * A module's rank, alpha and scaling, resolved from the adapter config as the PEFT release that saved it does.
 *
 * PEFT changed how `rank_pattern` / `alpha_pattern` keys are matched (huggingface/peft `tuners/lora/model.py`,
 * `utils/other.py get_pattern_key`):
 * - before 0.14: one key for both patterns, the first of rank_pattern's keys then alpha_pattern's that matches
 *   `.*\.{key}$` (else the module's own name), so a module matched by a rank key takes its alpha from that same
 *   key, ignoring alpha_pattern's other keys (#2195);
 * - 0.14: each pattern looked up on its own, same match;
 * - 0.15 on: each on its own, matched by `(.*\.)?({key})$` (#2419).
 * PEFT writes `peft_version` into adapter_config.json from 0.18 on. Without it, a module the rules disagree on
 * (once the rank its tensors have is taken into account) is refused by name rather than merged with a guess.
 * Keys are Python regular expressions, run by a linear-time matcher (`pattern-match.ts`): no key can make the match
 * run for ever, and a key outside the subset it supports (backreferences, lookaround) is an ADAPTER_INVALID error.
 */
import { TruecastError } from "../../errors.js";
import type { PeftLoraConfig } from "../../sources/peft.js";
import { compilePattern, PatternSyntaxError, type CompiledPattern } from "./pattern-match.js";

export interface ModuleScaling {
  readonly r: number;
  readonly alpha: number;
  /** `alpha / r`, or `alpha / sqrt(r)` with use_rslora, in double precision (as Python computes it). */
  readonly scaling: number;
  /** The scaling as float32, the value torch multiplies a float32 tensor by. */
  readonly scale32: number;
}

/** PEFT's pattern-matching rule, by release (see the file comment). */
export type PatternRule = "peft<0.14" | "peft0.14" | "peft>=0.15";
const RULE_NAMES: Record<PatternRule, string> = { "peft<0.14": "PEFT < 0.14", "peft0.14": "PEFT 0.14", "peft>=0.15": "PEFT ≥ 0.15" };

/** Compiled patterns by source, so each key compiles once per rule. */
const compiled = new Map<string, CompiledPattern>();
/** Entries kept at most (a hostile config cannot grow the cache without bound). */
const MAX_COMPILED = 10_000;

/** The key for a message: quoted, and shortened when long. */
function quoteKey(key: string): string {
  return JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}...` : key);
}

function keyMatches(key: string, module: string, file: string, rule: PatternRule): boolean {
  const source = rule === "peft>=0.15" ? `(.*\\.)?(${key})$` : `.*\\.${key}$`;
  try {
    let pattern = compiled.get(source);
    if (pattern === undefined) {
      pattern = compilePattern(source);
      if (compiled.size >= MAX_COMPILED) compiled.clear();
      compiled.set(source, pattern);
    }
    return pattern.matches(module);
  } catch (e) {
    if (!(e instanceof PatternSyntaxError)) throw e;
    throw new TruecastError("ADAPTER_INVALID", `${file}: pattern ${quoteKey(key)} is not a valid regular expression truecast can match safely (${e.message})`);
  }
}

/** The first key (in file order) that matches the module under `rule`, or undefined. */
function matchKey(keys: Iterable<string>, module: string, file: string, rule: PatternRule): string | undefined {
  for (const key of keys) if (keyMatches(key, module, file, rule)) return key;
  return undefined;
}

/**
 * PEFT ≥ 0.15 `get_pattern_key`: the value of the first pattern key (in file order) for which `(.*\.)?(key)$`
 * matches the whole module name from its start (Python `re.match`). The key is a regular expression.
 */
export function patternValue(patterns: ReadonlyMap<string, number>, module: string, file: string): number | undefined {
  const key = matchKey(patterns.keys(), module, file, "peft>=0.15");
  return key === undefined ? undefined : patterns.get(key);
}

/** A module's rank and alpha under one release's rule. */
export function rankAndAlpha(config: PeftLoraConfig, module: string, file: string, rule: PatternRule): { r: number; alpha: number } {
  if (rule === "peft<0.14") {
    const key = matchKey([...config.rankPattern.keys(), ...config.alphaPattern.keys()], module, file, rule) ?? module;
    return { r: config.rankPattern.get(key) ?? config.r, alpha: config.alphaPattern.get(key) ?? config.loraAlpha };
  }
  const rKey = matchKey(config.rankPattern.keys(), module, file, rule) ?? module;
  const aKey = matchKey(config.alphaPattern.keys(), module, file, rule) ?? module;
  return { r: config.rankPattern.get(rKey) ?? config.r, alpha: config.alphaPattern.get(aKey) ?? config.loraAlpha };
}

/** The rule of the PEFT release named by adapter_config.json's `peft_version` ("0.18.0", "0.18.1.dev0@abc"). */
export function ruleForVersion(version: string, file: string): PatternRule {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (m === null) throw new TruecastError("ADAPTER_INVALID", `${file}: "peft_version" ${JSON.stringify(version)} is not a version number`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > 0 || minor >= 15) return "peft>=0.15";
  return minor >= 14 ? "peft0.14" : "peft<0.14";
}

/**
 * A module's rank, alpha and scaling. `tensorRank`, the rank its lora_A has, settles between rules that disagree
 * on the rank; rules left disagreeing on alpha make the module ambiguous (refused, see the file comment).
 */
export function moduleScaling(config: PeftLoraConfig, module: string, file: string, tensorRank?: number): ModuleScaling {
  let chosen: { r: number; alpha: number };
  if (config.peftVersion !== null) {
    chosen = rankAndAlpha(config, module, file, ruleForVersion(config.peftVersion, file));
  } else {
    const rules: PatternRule[] = ["peft<0.14", "peft0.14", "peft>=0.15"];
    const all = rules.map((rule) => ({ rule, ...rankAndAlpha(config, module, file, rule) }));
    const fitting = tensorRank === undefined ? all : all.filter((c) => c.r === tensorRank);
    const candidates = fitting.length > 0 ? fitting : all;
    const first = candidates[0] as (typeof all)[number];
    const other = candidates.find((c) => c.r !== first.r || c.alpha !== first.alpha);
    if (other !== undefined) {
      throw new TruecastError(
        "ADAPTER_UNSUPPORTED",
        `${file}: module "${module}" has r=${first.r}, lora_alpha=${first.alpha} under ${RULE_NAMES[first.rule]}'s rank_pattern/alpha_pattern ` +
          `matching but r=${other.r}, lora_alpha=${other.alpha} under ${RULE_NAMES[other.rule]}'s, and adapter_config.json does not say which ` +
          `PEFT saved it; add "peft_version": "<the PEFT version that trained the adapter>" to adapter_config.json`,
      );
    }
    chosen = first;
  }
  const { r, alpha } = chosen;
  const scaling = config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  return { r, alpha, scaling, scale32: Math.fround(scaling) };
}
