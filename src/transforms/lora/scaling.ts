/** A module's rank, alpha and scaling, resolved from the adapter config as PEFT does. */
import { TruecastError } from "../../errors.js";
import type { PeftLoraConfig } from "../../sources/peft.js";

export interface ModuleScaling {
  readonly r: number;
  readonly alpha: number;
  /** `alpha / r`, or `alpha / sqrt(r)` with use_rslora, in double precision (as Python computes it). */
  readonly scaling: number;
  /** The scaling as float32, the value torch multiplies a float32 tensor by. */
  readonly scale32: number;
}

/**
 * PEFT `get_pattern_key`: the first pattern key (in file order) for which `(.*\.)?(key)$` matches the whole
 * module name from its start (Python `re.match`). The key is a regular expression.
 */
export function patternValue(patterns: ReadonlyMap<string, number>, module: string, file: string): number | undefined {
  for (const [key, value] of patterns) {
    let re: RegExp;
    try {
      re = new RegExp(`^(.*\\.)?(${key})$`);
    } catch (e) {
      throw new TruecastError("ADAPTER_INVALID", `${file}: pattern "${key}" is not a valid regular expression (${(e as Error).message})`);
    }
    if (re.test(module)) return value;
  }
  return undefined;
}

export function moduleScaling(config: PeftLoraConfig, module: string, file: string): ModuleScaling {
  const r = patternValue(config.rankPattern, module, file) ?? config.r;
  const alpha = patternValue(config.alphaPattern, module, file) ?? config.loraAlpha;
  const scaling = config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  return { r, alpha, scaling, scale32: Math.fround(scaling) };
}
