/**
 * `export --push --replace-weights`: the weight files of the target revision that the new export does not write,
 * deleted in the export's one commit (`deletedFile` lines), so that a pull request converting a repo to safetensors
 * also removes its pickles. Only weight files at the top level are ever chosen (transformers loads weights from
 * there): `pytorch_model*.bin`, `*.bin.index.json`, `model*.safetensors` shards and `model.safetensors.index.json`
 * the export does not rewrite, and `.pt` / `.pth` checkpoints (not a trainer's optimizer, scheduler, scaler or RNG
 * state, which are no weights). Configs, tokenizer files, the card, a name with control or invisible characters and
 * any other file are never deleted (the card is replaced only when the export writes one, by the upload itself).
 */
import { listTree } from "./list-tree.js";
import type { HubTarget } from "./repo-setup.js";

/** Top-level names of weight files a safetensors export supersedes. */
const WEIGHT_FILE = [
  /^pytorch_model(-\d+-of-\d+)?\.bin$/,
  /\.bin\.index\.json$/,
  /^model(-\d+-of-\d+)?\.safetensors$/,
  /^model\.safetensors\.index\.json$/,
  /\.(pt|pth)$/,
];

/**
 * Pickles at the top level that hold a trainer's state, not the model's weights (transformers' Trainer writes them
 * beside the weights of a checkpoint): a conversion of the weights supersedes none of them.
 */
const TRAINING_STATE = /^(optimizer|scheduler|scaler)(_\d+)?\.pt$|^rng_state(_\d+)?\.pth$/;

/**
 * Names that show as something else, or as nothing: control characters, zero-width characters, bidirectional
 * overrides. A listing that holds one is not deleted from (a name no one can read is not a weight file to remove).
 */
const UNREADABLE_NAME = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** Pickle checkpoints among them (what a user is told `--replace-weights` would remove). */
const PICKLE_FILE = /\.(bin|pt|pth)$/;

export interface WeightReplacement {
  /** Weight files of the revision the export does not write, sorted: deleted with `--replace-weights`. */
  readonly stale: readonly string[];
  /** The pickle checkpoints among `stale`. */
  readonly pickles: readonly string[];
}

/** Which of `remote` (paths of the target revision) are weight files that `written` (paths of the export) leaves behind. */
export function staleWeightFiles(remote: Iterable<string>, written: ReadonlySet<string>): WeightReplacement {
  const stale = [...remote]
    .filter((p) => !p.includes("/") && !written.has(p) && !UNREADABLE_NAME.test(p) && !TRAINING_STATE.test(p) && WEIGHT_FILE.some((r) => r.test(p)))
    .sort();
  return { stale, pickles: stale.filter((p) => PICKLE_FILE.test(p)) };
}

/**
 * The stale weight files of `revision` (the branch committed to, or the one a pull request is opened against),
 * listed from its tree through the session's fetch (retries, deadline). The repo and branch exist by then: the
 * export lists right before its commit, after its uploads have set them up.
 */
export async function findStaleWeights(target: HubTarget, revision: string, written: ReadonlySet<string>): Promise<WeightReplacement> {
  const tree = await listTree(target, revision);
  return staleWeightFiles(tree.map((f) => f.path), written);
}
