"""Tiny random models built by real transformers, and the ways users save them.

Every builder is deterministic (fixed seed) and small (hidden 64, 2 layers, vocab 128) so the whole suite runs in
minutes on 2 cores. Every parameter is random, norms and biases included, so a weight taken from the wrong place or
in the wrong layout cannot go unnoticed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

VOCAB = 128
HIDDEN = 64

# One entry per architecture variant: the config class and its arguments. Float fields are floats on purpose
# (rope_theta=10000.0, attention_dropout=0.0, ...): config.json must keep them floats.
ARCHS: dict[str, tuple[str, dict]] = {
    "llama": ("LlamaConfig", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                   rope_theta=10000.0, rms_norm_eps=1e-05, attention_dropout=0.0,
                                   tie_word_embeddings=False)),
    "llama_tied": ("LlamaConfig", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                        max_position_embeddings=64, rope_theta=500000.0, tie_word_embeddings=True)),
    "mistral": ("MistralConfig", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128,
                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                       max_position_embeddings=64, rope_theta=1000000.0, sliding_window=32)),
    "qwen2": ("Qwen2Config", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                   rope_theta=1000000.0, tie_word_embeddings=True)),
    "gpt2": ("GPT2Config", dict(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=2, n_head=4, n_positions=64,
                                 layer_norm_epsilon=1e-05, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    "gpt_neox": ("GPTNeoXConfig", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
                                        rotary_pct=0.25, rotary_emb_base=10000, hidden_dropout=0.0,
                                        attention_dropout=0.0)),
    "phi": ("PhiConfig", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, max_position_embeddings=64, partial_rotary_factor=0.5,
                               rope_theta=10000.0, resid_pdrop=0.0, embd_pdrop=0.0)),
    "gemma": ("GemmaConfig", dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                                   max_position_embeddings=64, hidden_activation="gelu_pytorch_tanh",
                                   rope_theta=10000.0)),
}

# rope_scaling of each kind transformers 4.44 knows, on the architectures that take it. Whole-number floats
# (2.0, 1.0, 4.0, 8.0) are the point: written back as integers, transformers refuses or warns.
# Llama takes the `rope_type` spelling; its legacy `type` spelling makes transformers 4.44.2 itself warn on every
# load ("Unrecognized keys in `rope_scaling` for 'rope_type'='linear': {'type'}", fixed in 4.45), so that case only
# asserts that the export warns no more than the source does (LEGACY_ROPE_WARNS).
ROPE_SCALINGS: dict[str, tuple[str, dict]] = {
    "llama-linear": ("llama", {"rope_type": "linear", "factor": 2.0}),
    "llama-dynamic": ("llama", {"rope_type": "dynamic", "factor": 2.0}),
    "llama-llama3": ("llama", {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
    "llama-legacy-linear": ("llama", {"type": "linear", "factor": 2.0}),
    "gpt_neox-linear": ("gpt_neox", {"type": "linear", "factor": 2.0}),
    "phi-linear": ("phi", {"type": "linear", "factor": 2.0}),
    "phi-dynamic": ("phi", {"type": "dynamic", "factor": 2.0}),
}
LEGACY_ROPE_WARNS = {"llama-legacy-linear"}


def tiny_config(arch: str, **overrides) -> PretrainedConfig:
    """The config of a tiny model of `arch` (a key of ARCHS), with `overrides` applied."""
    cls_name, kwargs = ARCHS[arch]
    return getattr(transformers, cls_name)(**{**copy.deepcopy(kwargs), **overrides})


def randomize(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Overwrite every parameter with seeded normal values (norm weights around 1), so none is a default."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            values = torch.randn(p.shape, generator=gen, dtype=torch.float32) * scale
            if p.dim() == 1 and name.endswith("weight") and ("norm" in name or ".ln_" in name):
                values += 1.0
            p.copy_(values.to(p.dtype))


def tiny_model(arch: str, dtype: torch.dtype = torch.float32, seed: int = 0, **overrides) -> PreTrainedModel:
    """A tiny causal LM of `arch` with seeded random weights in `dtype`, in eval mode."""
    config = tiny_config(arch, **overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()
    randomize(model, seed)
    return model.to(dtype).eval()


def input_ids(batch: int = 2, length: int = 12, seed: int = 1234) -> torch.Tensor:
    """A fixed batch of token ids for comparing logits."""
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def save_hf(model: PreTrainedModel, out: Path, safe: bool = True, max_shard_size: str | None = None) -> Path:
    """`save_pretrained` as a user does: safetensors or pytorch_model.bin, optionally sharded."""
    kwargs = {"safe_serialization": safe}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    model.save_pretrained(out, **kwargs)
    return out


BARE_KINDS = ("state_dict", "wrapped_model", "wrapped_state_dict", "module_prefix", "legacy", "views")


def bare_state_dict(model: PreTrainedModel, kind: str) -> dict:
    """The object a training script would `torch.save` for `kind` (one of BARE_KINDS)."""
    sd = model.state_dict()
    if kind in ("state_dict", "legacy"):
        return sd
    if kind == "wrapped_model":
        return {"model": sd}
    if kind == "wrapped_state_dict":
        return {"state_dict": sd, "epoch": 3}
    if kind == "module_prefix":  # DataParallel / DistributedDataParallel
        return {"module." + k: v for k, v in sd.items()}
    if kind == "views":
        return views_of(sd)
    raise ValueError(kind)


def views_of(sd: dict) -> dict:
    """The same values as views: every tensor a slice of one shared flat storage per dtype (non-zero offsets), and
    2-D ones stored transposed (non-contiguous strides). Tied tensors stay one tensor."""
    def key(v: torch.Tensor) -> tuple:
        return (v.data_ptr(), tuple(v.shape), v.stride(), v.dtype)

    out: dict = {}
    seen: dict[tuple, torch.Tensor] = {}
    by_dtype: dict[torch.dtype, list] = {}
    for k, v in sd.items():
        if any(key(v) == key(w) for _, w in by_dtype.get(v.dtype, [])):
            continue
        by_dtype.setdefault(v.dtype, []).append((k, v))
    for dtype, items in by_dtype.items():
        flat = torch.cat([torch.zeros(3, dtype=dtype)] + [v.t().reshape(-1) if v.dim() == 2 else v.reshape(-1)
                                                          for _, v in items])
        offset = 3
        for k, v in items:
            n = v.numel()
            chunk = flat[offset:offset + n]
            seen[key(v)] = chunk.view(v.shape[1], v.shape[0]).t() if v.dim() == 2 else chunk.view(v.shape)
            offset += n
    for k, v in sd.items():
        out[k] = seen[key(v)]
        assert torch.equal(out[k], v)
    return out


def save_bare(model: PreTrainedModel, path: Path, kind: str) -> Path:
    """`torch.save` of a state dict in the layout `kind`; "legacy" uses the pre-1.6 format."""
    obj = bare_state_dict(model, kind)
    torch.save(obj, path, _use_new_zipfile_serialization=(kind != "legacy"))
    return path
