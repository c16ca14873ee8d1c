/** Which files of a revision `--replace-weights` deletes: the weight files the export does not write, nothing else. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { staleWeightFiles } from "../../src/hub/replace-weights.js";

test("stale weight files: pickles, their index, safetensors shards and index not rewritten, top-level .pt/.pth; nothing else", () => {
  const remote = [
    ".gitattributes", "README.md", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "training_args.bin", "adapter_model.bin", "optimizer.pt.bak", "notes.txt",
    "pytorch_model.bin", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json",
    "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json",
    "model.safetensors", "consolidated.pth", "checkpoint.pt", "original/consolidated.00.pth", "onnx/model.safetensors", "tf_model.h5",
  ];
  // The export writes two shards and an index, and a README.
  const written = new Set(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "README.md", "config.json"]);
  const r = staleWeightFiles(remote, written);
  assert.deepEqual(r.stale, [
    "checkpoint.pt", "consolidated.pth", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
    "model.safetensors", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin", "pytorch_model.bin.index.json",
  ]);
  assert.deepEqual(r.pickles, ["checkpoint.pt", "consolidated.pth", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin"]);
  // What the export rewrites is never deleted (the upload replaces it).
  assert.deepEqual(staleWeightFiles(["model.safetensors", "README.md"], new Set(["model.safetensors", "README.md"])).stale, []);
});

test("hostile or training-state names are never chosen: paths, control characters, optimizer/scheduler/RNG state", () => {
  const remote = [
    "../pytorch_model.bin", "sub/pytorch_model.bin", "/model.pt", "./model.safetensors", "pytorch_model.bin\n",
    "x\n.pt", "a\u0000.pt", "model\u202egnp.pt", "evil\u001b[2J.pth", "zero\u200b.pt",
    "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth", "rng_state_3.pth", "optimizer_0.pt",
    "checkpoint.pt", "pytorch_model.bin",
  ];
  assert.deepEqual(staleWeightFiles(remote, new Set()).stale, ["checkpoint.pt", "pytorch_model.bin"]);
});
