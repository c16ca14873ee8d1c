/**
 * What an `audit` or `diff` report page shows, as plain data: the verdict, the findings and one row per tensor.
 * `audit --html` and `diff --html` build a {@link ReportPage}; the page renderer turns it into one self-contained
 * HTML file. Also the tensor grouping the page's charts use (per layer, per kind of weight).
 */

export type Severity = "error" | "warning" | "info";

/** One thing `audit` (or `diff`) found, with a stable code and what to do about it. */
export interface Finding {
  readonly severity: Severity;
  /** Stable, upper-case, e.g. `CONFIG_DTYPE_MISMATCH`, `F16_OVERFLOW_SIGNATURE`. */
  readonly code: string;
  /** One line saying what is wrong. */
  readonly message: string;
  /** What to do about it, one line. */
  readonly action?: string;
  readonly tensors?: readonly string[];
  readonly files?: readonly string[];
}

/** The kinds of weight the charts group tensors by. */
export type TensorGroup = "q" | "k" | "v" | "o" | "qkv" | "mlp" | "embeddings" | "head" | "norm" | "other";

export interface TensorRow {
  readonly name: string;
  /** The transformer block index (`model.layers.12.…` → 12), or null outside the blocks. */
  readonly layer: number | null;
  readonly group: TensorGroup;
  /** `bfloat16`, or for a diff where it changed `bfloat16 → float16`. */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** A short word for the table: `bit-identical`, `rounded`, `overflow`, `only in a`, `NaN`, `ok`, ... */
  readonly status: string;
  readonly severity: Severity | "ok";
  /**
   * Numbers shown as columns, by name (the same names on every row of one page): `elementsChanged`, `toInfinity`,
   * `toZero`, `maxAbsError`, `maxRelError`, `maxUlp`, `nan`, `inf`, `zeroShare`, `subnormalShare`, ...
   * null where it does not apply; Infinity is allowed.
   */
  readonly metrics: Readonly<Record<string, number | null>>;
}

export interface ReportPage {
  readonly kind: "audit" | "diff";
  /** e.g. `truecast audit hf://org/model@main`. */
  readonly title: string;
  /** One sentence a person can act on, shown on top. */
  readonly verdict: { readonly severity: Severity | "ok"; readonly text: string };
  /** Key facts under the verdict (`tensors: 291`, `requests: 34`), in order. */
  readonly facts: readonly { readonly label: string; readonly value: string }[];
  readonly findings: readonly Finding[];
  readonly tensors: readonly TensorRow[];
  /** `truecast 0.x.y`, and the date the report was made (ISO 8601). */
  readonly generator: string;
  readonly date: string;
}

/** The block index of a tensor name (`model.layers.12.self_attn.q_proj.weight` → 12; `h.3.attn` → 3), else null. */
export function layerOf(name: string): number | null {
  const m = /(?:^|\.)(?:layers|layer|h|blocks|block|decoder\.layers|encoder\.layers)\.(\d{1,6})\./.exec(name);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/** The kind of weight a tensor name is, by the module names the common architectures use. */
export function groupOf(name: string): TensorGroup {
  const n = name.toLowerCase();
  if (/(^|\.)(q_proj|query|wq)(\.|$)/.test(n)) return "q";
  if (/(^|\.)(k_proj|key|wk)(\.|$)/.test(n)) return "k";
  if (/(^|\.)(v_proj|value|wv)(\.|$)/.test(n)) return "v";
  if (/(^|\.)(o_proj|out_proj|dense|wo|c_proj)(\.|$)/.test(n) && /attn|attention/.test(n)) return "o";
  if (/(^|\.)(qkv_proj|query_key_value|c_attn|wqkv|w_pack)(\.|$)/.test(n)) return "qkv";
  if (/(^|\.)(mlp|feed_forward|ffn)(\.|$)|(gate_proj|up_proj|down_proj|fc1|fc2|c_fc|w1|w2|w3|dense_h_to_4h|dense_4h_to_h)(\.|$)/.test(n)) return "mlp";
  if (/(embed_tokens|wte|wpe|embed_in|word_embeddings|embeddings|tok_embeddings)(\.|$)/.test(n)) return "embeddings";
  if (/(^|\.)(lm_head|embed_out|output|score|classifier)(\.|$)/.test(n)) return "head";
  if (/norm|ln_\d|ln_f|layernorm/.test(n)) return "norm";
  return "other";
}
