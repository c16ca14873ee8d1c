/**
 * Generator of ordinary PEFT pattern keys and module names, for checking the safe matcher against RegExp.
 * Seeded: every run checks the same cases.
 */
import { uniform } from "../../fuzz/mutate.js";

/** Module names as PEFT sees them in Llama-like models, with and without the PEFT prefix. */
export function moduleNames(): string[] {
  const out: string[] = ["lm_head", "model.embed_tokens", "model.norm", "q_proj"];
  for (const i of [0, 1, 2, 9, 10, 11, 12, 19, 20, 23, 31]) {
    for (const m of ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]) {
      out.push(`model.layers.${i}.${m}`);
    }
    out.push(`base_model.model.model.layers.${i}.self_attn.q_proj`, `transformer.h.${i}.attn.c_attn`);
  }
  return out;
}

const PARTS = [
  "q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj", "self_attn", "mlp", "layers", "model",
  "0", "1", "12", "2", "\\.", ".", ".*", ".+", "\\d", "\\d+", "[0-9]", "[0-9]+", "[a-z_]+", "\\w+", "[^.]+", "[qkv]_proj",
  "(q|k|v)_proj", "(1[0-9]|2[0-3])", "(?:up|down)_proj", "_proj", "attn", "\\.(0|1)\\.", "h", "c_attn", "[qk]", "\\w*",
  "(?P<l>[0-9]{1,2})", "\\d{2}", "[.]", "\\b", "^model", "layers\\.\\d+", "(mlp|self_attn)\\.",
];
const QUANTIFIERS = ["", "", "", "", "?", "*", "+", "{1,2}", "*?", "+?"];

/** A seeded generator of uniform draws in [0, 1). */
const random = uniform;

/** `count` keys of 1 to 4 parts, some grouped and quantified, some alternatives of two sequences. */
export function modulePatterns(count: number, seed: number): string[] {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const sequence = (): string => {
    const n = 1 + Math.floor(next() * 4);
    let s = "";
    for (let i = 0; i < n; i++) {
      const part = pick(PARTS);
      // No unbounded repeat of an unbounded repeat: RegExp, the reference, would backtrack for ever on `(.*)*`.
      const q = /[*+]/.test(part) ? pick(["", "?", "{1,2}"]) : pick(QUANTIFIERS);
      s += q === "" || part.startsWith("^") || part === "\\b" ? part : `(?:${part})${q}`;
    }
    return s;
  };
  const out = ["q_proj", "layers\\.0\\.mlp\\.up_proj", "model.layers.1.self_attn.q_proj", ".*"];
  while (out.length < count) {
    const key = next() < 0.2 ? `${sequence()}|${sequence()}` : sequence();
    if (key.split("(?P<l>").length <= 2) out.push(key); // a group name may be defined once
  }
  return out;
}
