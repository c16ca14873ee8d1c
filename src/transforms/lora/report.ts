/** What a LoRA merge did, per adapter tensor and per module. */
import type { CastReport } from "../../dtype/report.js";
import type { DType } from "../../dtype/table.js";

/** Where one adapter tensor went. Every tensor of the adapter file has exactly one route. */
export interface LoraTensorRoute {
  /** The key in the adapter file, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
  readonly adapterTensor: string;
  readonly role:
    | "lora_A" | "lora_B" | "lora_B.bias" | "lora_embedding_A" | "lora_embedding_B" | "lora_magnitude_vector"
    | "modules_to_save" | "base_layer" | "bias";
  /** The output tensor it went into, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly target: string;
  /** merged into the base tensor, replaced the base tensor, or added a tensor the base did not have. */
  readonly action: "merged" | "replaced" | "added";
}

/** Counts for one merged tensor, filled in when its bytes are produced (null until then). */
export interface MergeCounts {
  readonly elements: number;
  /** Elements whose output bits differ from the base's bits (in the output dtype). */
  changed: number | null;
  /** Elements with a non-zero delta whose output bits equal the base's: the delta was too small to move them. */
  tooSmall: number | null;
  /** The one rounding from float32 into the output dtype. */
  cast: CastReport | null;
}

export interface LoraModuleReport {
  readonly module: string;
  readonly kind: "linear" | "embedding";
  readonly variant: "lora" | "dora";
  /** The base tensor that was merged (or the adapter tensor that replaced it first). */
  readonly baseTensor: string;
  /** `out×in` for nn.Linear, `in×out` for Conv1D (fan_in_fan_out) and for embeddings (`num×dim`, delta = (B@A)ᵀ). */
  readonly layout: "out×in" | "in×out";
  /** What decided the layout: the base architecture, a non-square shape, the adapter config, or an embedding. */
  readonly layoutFrom: "embedding" | "architecture" | "shape" | "adapter config";
  readonly rank: number;
  readonly alpha: number;
  readonly scaling: number;
  readonly inputDtype: DType;
  readonly outputDtype: DType;
  readonly weight: MergeCounts;
  /** lora_bias: the bias merge, or null. */
  readonly bias: (MergeCounts & { readonly tensor: string }) | null;
}

export interface LoraReport {
  readonly adapter: string;
  readonly weightsFile: string;
  readonly baseModelNameOrPath: string | null;
  readonly routes: readonly LoraTensorRoute[];
  readonly modules: readonly LoraModuleReport[];
  readonly notes: readonly string[];
}
