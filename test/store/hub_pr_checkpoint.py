"""Writes the sharded PyTorch repo that test/store/hub-pr-cli.test.ts converts on the Hub double, with real torch.save.

Usage: python3 hub_pr_checkpoint.py OUT_DIR
  pytorch_model-0000{1,2}-of-00002.bin: bfloat16 and float32 tensors (values from a fixed generator), split as
  transformers shards them, with pytorch_model.bin.index.json; config.json, tokenizer_config.json, README.md and a
  training_args.bin (a pickle that is not a weight file, which --replace-weights must leave alone).
"""
import json
import sys

import torch

out = sys.argv[1]
g = torch.Generator().manual_seed(5)
shards = [
    {
        "model.embed_tokens.weight": torch.randn(96, 64, generator=g).to(torch.bfloat16),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(64, 64, generator=g).to(torch.bfloat16),
        "model.layers.0.input_layernorm.weight": torch.randn(64, generator=g),
    },
    {
        "model.layers.1.self_attn.q_proj.weight": torch.randn(64, 64, generator=g).to(torch.bfloat16),
        "model.norm.weight": torch.randn(64, generator=g).to(torch.bfloat16),
        "lm_head.weight": torch.randn(96, 64, generator=g).to(torch.bfloat16),
    },
]
weight_map = {}
total = 0
for i, sd in enumerate(shards):
    name = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
    torch.save(sd, f"{out}/{name}")
    for k, t in sd.items():
        weight_map[k] = name
        total += t.numel() * t.element_size()
with open(f"{out}/pytorch_model.bin.index.json", "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
with open(f"{out}/config.json", "w") as f:
    json.dump({"model_type": "llama", "torch_dtype": "bfloat16", "tie_word_embeddings": False, "vocab_size": 96, "hidden_size": 64}, f, indent=2)
with open(f"{out}/tokenizer_config.json", "w") as f:
    json.dump({"model_max_length": 128}, f, indent=2)
with open(f"{out}/README.md", "w") as f:
    f.write("---\nlicense: mit\n---\n# tiny pickled model\n")
torch.save({"learning_rate": 1, "epochs": 3}, f"{out}/training_args.bin")
