"""Writes the PyTorch checkpoint of the torch-bin benchmark (issue 3): a Llama-7B-like bfloat16 state dict
(embeddings and output head 32000x4096, per layer q/k/v/o 4096x4096, gate/up 11008x4096, down 4096x11008,
and the RMSNorm vectors), layers added until the tensors hold at least <gigabytes> GB, saved with torch.save
(zip format, the default since torch 1.6) as <out folder>/pytorch_model.bin beside a config.json.

Each tensor is drawn as float32 normal(0, 0.02) and cast to bfloat16 on its own, so the float32 temporary
never exceeds one tensor; the bfloat16 state dict itself is held until torch.save writes it.
Usage: /usr/bin/python3 bench/reference/make_torch_bin.py <out folder> <gigabytes>
"""
import collections
import json
import os
import sys

import torch

HIDDEN = 4096
INTERMEDIATE = 11008
VOCAB = 32000
INIT_STD = 0.02


def weight(shape, generator):
    return (torch.randn(*shape, generator=generator, dtype=torch.float32) * INIT_STD).to(torch.bfloat16)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_torch_bin.py <out folder> <gigabytes>")
    out, target = sys.argv[1], float(sys.argv[2]) * 1e9
    generator = torch.Generator().manual_seed(20261129)
    sd = collections.OrderedDict()
    total = 0

    def add(name, shape):
        nonlocal total
        t = weight(shape, generator) if len(shape) == 2 else torch.ones(shape, dtype=torch.bfloat16)
        sd[name] = t
        total += t.numel() * t.element_size()

    add("model.embed_tokens.weight", (VOCAB, HIDDEN))
    layers = 0
    while total < target:
        p = f"model.layers.{layers}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            add(p + f"self_attn.{proj}.weight", (HIDDEN, HIDDEN))
        add(p + "mlp.gate_proj.weight", (INTERMEDIATE, HIDDEN))
        add(p + "mlp.up_proj.weight", (INTERMEDIATE, HIDDEN))
        add(p + "mlp.down_proj.weight", (HIDDEN, INTERMEDIATE))
        add(p + "input_layernorm.weight", (HIDDEN,))
        add(p + "post_attention_layernorm.weight", (HIDDEN,))
        layers += 1
    add("model.norm.weight", (HIDDEN,))
    add("lm_head.weight", (VOCAB, HIDDEN))

    os.makedirs(out, exist_ok=True)
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": layers,
        "num_attention_heads": 32,
        "vocab_size": VOCAB,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(json.dumps({"tensors": len(sd), "bytes": total, "layers": layers}))


main()
