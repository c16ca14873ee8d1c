/**
 * A linear-time matcher for PEFT's pattern keys: the pattern (parsed by `pattern-syntax.ts`) is compiled to a
 * Thompson NFA and run as a Pike VM, which follows every alternative at once instead of backtracking. A match
 * costs at most (program size × (name length + 1)) steps, whatever the pattern: `(.|.|.)*X`, which makes a
 * backtracking engine (Python's `re`, JavaScript's RegExp) run for ever, answers at once.
 */
import { isWord, parsePattern, PatternSyntaxError, type AssertKind, type CharTest, type PatternNode } from "./pattern-syntax.js";

export { PatternSyntaxError } from "./pattern-syntax.js";

/**
 * Longest pattern key accepted, in characters. Real keys name a module or a family of them
 * (`model.layers.0.self_attn.q_proj`, `layers\.(1[0-9]|2[0-3])\.mlp\..*`): tens to a few hundred characters.
 */
export const MAX_PATTERN_LENGTH = 4096;

/** Most NFA instructions one pattern may compile to (counted repeats such as `{1000}` are expanded). */
export const MAX_PROGRAM_SIZE = 50_000;

/** Most VM steps one match may take (program size × (name length + 1)): ~0.1 s at worst. */
export const MAX_MATCH_STEPS = 20_000_000;

type Instr =
  | { readonly op: "char"; readonly test: CharTest }
  | { readonly op: "split"; x: number; y: number }
  | { readonly op: "jmp"; x: number }
  | { readonly op: "assert"; readonly kind: AssertKind }
  | { readonly op: "match" };

/** A compiled pattern; `matches` answers Python's `re.match(source, name) is not None`. */
export interface CompiledPattern {
  readonly source: string;
  matches(name: string): boolean;
}

/**
 * Compiles `source` (a whole Python regular expression, e.g. PEFT's `(.*\.)?(key)$`) for {@link CompiledPattern.matches},
 * which anchors at the start of the name only, as `re.match` does. Throws {@link PatternSyntaxError}.
 */
export function compilePattern(source: string): CompiledPattern {
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new PatternSyntaxError(`${source.length} characters, more than the ${MAX_PATTERN_LENGTH} a pattern may have`);
  }
  const prog: Instr[] = [];
  emitNode(prog, parsePattern(source));
  emit(prog, { op: "match" });
  return { source, matches: (name) => run(prog, name) };
}

function emit(prog: Instr[], instr: Instr): number {
  if (prog.length >= MAX_PROGRAM_SIZE) {
    throw new PatternSyntaxError(`it expands to more than ${MAX_PROGRAM_SIZE} steps (a repeat count too large?)`);
  }
  prog.push(instr);
  return prog.length - 1;
}

function emitNode(prog: Instr[], node: PatternNode): void {
  switch (node.t) {
    case "char":
      emit(prog, { op: "char", test: node.test });
      return;
    case "assert":
      emit(prog, { op: "assert", kind: node.kind });
      return;
    case "cat":
      for (const item of node.items) emitNode(prog, item);
      return;
    case "alt": {
      const jumps: Array<{ op: "jmp"; x: number }> = [];
      node.items.forEach((item, i) => {
        if (i === node.items.length - 1) return emitNode(prog, item);
        const split = { op: "split" as const, x: 0, y: 0 };
        emit(prog, split);
        split.x = prog.length;
        emitNode(prog, item);
        const jmp = { op: "jmp" as const, x: 0 };
        emit(prog, jmp);
        jumps.push(jmp);
        split.y = prog.length;
      });
      for (const j of jumps) j.x = prog.length;
      return;
    }
    case "rep":
      emitRepeat(prog, node.node, node.min, node.max);
      return;
  }
}

function emitRepeat(prog: Instr[], body: PatternNode, min: number, max: number): void {
  for (let i = 0; i < min; i++) emitNode(prog, body);
  if (max === Infinity) {
    const split = { op: "split" as const, x: 0, y: 0 };
    const top = emit(prog, split);
    split.x = prog.length;
    emitNode(prog, body);
    emit(prog, { op: "jmp", x: top });
    split.y = prog.length;
    return;
  }
  // x{0,n}: (x(x(x)?)?)?, every skip jumps past all the optional copies.
  const skips: Array<{ op: "split"; x: number; y: number }> = [];
  for (let i = min; i < max; i++) {
    const split = { op: "split" as const, x: 0, y: 0 };
    emit(prog, split);
    split.x = prog.length;
    skips.push(split);
    emitNode(prog, body);
  }
  for (const s of skips) s.y = prog.length;
}

/** The Pike VM: the set of live instructions advances one code point at a time, each at most once per position. */
function run(prog: readonly Instr[], name: string): boolean {
  const text = Array.from(name, (ch) => ch.codePointAt(0) as number);
  if (prog.length * (text.length + 1) > MAX_MATCH_STEPS) {
    throw new PatternSyntaxError(
      `matching it against a ${text.length}-character module name would take more than ${MAX_MATCH_STEPS} steps`,
    );
  }
  const seen = new Uint32Array(prog.length);
  let generation = 0;
  let current: number[] = [];
  let next: number[] = [];
  const stack: number[] = [];
  /** Adds `pc` and everything reachable from it without consuming input; true when that reaches `match`. */
  const add = (list: number[], pc: number, pos: number): boolean => {
    stack.push(pc);
    while (stack.length > 0) {
      const at = stack.pop() as number;
      if (seen[at] === generation) continue;
      seen[at] = generation;
      const instr = prog[at] as Instr;
      if (instr.op === "match") {
        stack.length = 0;
        return true;
      }
      if (instr.op === "char") list.push(at);
      else if (instr.op === "jmp") stack.push(instr.x);
      else if (instr.op === "split") stack.push(instr.y, instr.x);
      else if (holds(instr.kind, text, pos)) stack.push(at + 1);
    }
    return false;
  };
  generation++;
  if (add(current, 0, 0)) return true;
  for (let pos = 0; pos < text.length && current.length > 0; pos++) {
    generation++;
    next.length = 0;
    const cp = text[pos] as number;
    for (const pc of current) {
      const instr = prog[pc] as Extract<Instr, { op: "char" }>;
      if (instr.test(cp) && add(next, pc + 1, pos + 1)) return true;
    }
    [current, next] = [next, current];
  }
  return false;
}

function holds(kind: AssertKind, text: readonly number[], pos: number): boolean {
  const n = text.length;
  switch (kind) {
    case "start":
      return pos === 0;
    case "end":
      return pos === n;
    case "endOrFinalNewline":
      return pos === n || (pos === n - 1 && text[n - 1] === 0x0a);
    case "boundary":
    case "notBoundary": {
      const before = pos > 0 && isWord(text[pos - 1] as number);
      const after = pos < n && isWord(text[pos] as number);
      return (before !== after) === (kind === "boundary");
    }
  }
}
