"""Writes a real torch.save state dict of 100,001 tensors for test/formats/pickle/budget-rss.test.ts (run at test time).

usage: many_tensors.py OUT_FILE
  50,000 layers of a bfloat16 [2, 2] and a float32 [2] tensor, each layer with module metadata (_metadata), and a
  Parameter: 15 MB of data.pkl, each tensor in a storage (and a zip record) of its own.
"""
import sys
from collections import OrderedDict

import torch

sd = OrderedDict()
sd._metadata = OrderedDict()
for i in range(50_000):
    sd[f"model.layers.{i}.self_attn.q_proj.weight"] = torch.zeros(2, 2, dtype=torch.bfloat16)
    sd[f"model.layers.{i}.input_layernorm.weight"] = torch.ones(2)
    sd._metadata[f"model.layers.{i}"] = {"version": 1}
sd["lm_head.weight"] = torch.nn.Parameter(torch.zeros(3, 2))
torch.save(sd, sys.argv[1])
