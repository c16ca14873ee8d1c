"""Writes the PyTorch checkpoints test/store/hub-torch.test.ts reads remotely, with real torch.save.

Usage: python3 remote_torch.py OUT_DIR
  pytorch_model.bin: 6 float32 tensors of 64K elements (256 KiB each, so their zip records lie apart) and a tied
  pair sharing one storage; values from a fixed generator.
"""
import sys

import torch

out = sys.argv[1]
g = torch.Generator().manual_seed(11)
sd = {f"model.layers.{i}.weight": torch.randn(256, 256, generator=g) for i in range(6)}
emb = torch.randn(64, 32, generator=g).to(torch.bfloat16)
sd["model.embed_tokens.weight"] = emb
sd["lm_head.weight"] = emb
torch.save(sd, f"{out}/pytorch_model.bin")
