/** A module's rank, alpha and scaling, resolved from the adapter config as PEFT does. */
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

/** Each patterns map's keys, compiled once. */
const compiled = new WeakMap<ReadonlyMap<string, number>, Map<string, CompiledPattern>>();

/**
 * PEFT `get_pattern_key`: the first pattern key (in file order) for which `(.*\.)?(key)$` matches the whole
 * module name from its start (Python `re.match`). The key is a Python regular expression, run by a linear-time
 * matcher (`pattern-match.ts`): no key can make the match run for ever, and a key outside the subset it
 * supports (backreferences, lookaround) is an ADAPTER_INVALID error naming it.
 */
export function patternValue(patterns: ReadonlyMap<string, number>, module: string, file: string): number | undefined {
  let cache = compiled.get(patterns);
  if (cache === undefined) compiled.set(patterns, (cache = new Map()));
  for (const [key, value] of patterns) {
    const invalid = (e: unknown): never => {
      if (!(e instanceof PatternSyntaxError)) throw e;
      throw new TruecastError(
        "ADAPTER_INVALID",
        `${file}: pattern ${quoteKey(key)} is not a valid regular expression truecast can match safely (${e.message})`,
      );
    };
    let pattern = cache.get(key);
    if (pattern === undefined) {
      try {
        pattern = compilePattern(`(.*\\.)?(${key})$`);
      } catch (e) {
        return invalid(e);
      }
      cache.set(key, pattern);
    }
    let hit: boolean;
    try {
      hit = pattern.matches(module);
    } catch (e) {
      return invalid(e);
    }
    if (hit) return value;
  }
  return undefined;
}

/** The key for a message: quoted, and shortened when long. */
function quoteKey(key: string): string {
  return JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}...` : key);
}

export function moduleScaling(config: PeftLoraConfig, module: string, file: string): ModuleScaling {
  const r = patternValue(config.rankPattern, module, file) ?? config.r;
  const alpha = patternValue(config.alphaPattern, module, file) ?? config.loraAlpha;
  const scaling = config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  return { r, alpha, scaling, scale32: Math.fround(scaling) };
}
