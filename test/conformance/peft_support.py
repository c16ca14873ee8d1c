"""Helpers for the PEFT conformance cases: tiny random models, real PEFT adapters with trained-looking values, the
built truecast CLI, and PEFT's own merge as the reference.

Reference merge: the base model loaded in float32 (an exact upcast of its bf16/fp16 weights), the saved adapter
loaded onto it with ``PeftModel.from_pretrained`` (so the reference sees exactly what the adapter files hold),
``merge_and_unload()`` in float32, then rounded once into the output dtype.
"""
import json
import os
import subprocess
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "src" / "cli" / "main.js"

VOCAB, HIDDEN, INTER, LAYERS, HEADS, KV_HEADS = 64, 32, 64, 2, 4, 2
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
INPUT_IDS = torch.tensor([[1, 5, 9, 13, 17, 21, 33, 2], [3, 7, 11, 60, 40, 20, 10, 0]])


def run_cli(*args, env=None, check=True):
    """Run the built CLI (`node dist/src/cli/main.js ...`); fail the test with its stderr when it exits non-zero."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    full_env.update(env or {})
    p = subprocess.run(["node", str(CLI), *[str(a) for a in args]], capture_output=True, text=True, env=full_env,
                       timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"truecast {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}\n{p.stdout}")
    return p


def llama_config(**kw):
    from transformers import LlamaConfig
    fields = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                  num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                  tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    fields.update(kw)
    return LlamaConfig(**fields)


def gpt2_config(**kw):
    from transformers import GPT2Config
    fields = dict(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=64, bos_token_id=1,
                  eos_token_id=2)
    fields.update(kw)
    return GPT2Config(**fields)


def save_base(config, folder, dtype, seed, safe=True):
    """A tiny random model saved with save_pretrained in `dtype`; norms and biases are made non-trivial too."""
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name or "ln_" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    model.to(dtype).save_pretrained(folder, safe_serialization=safe)
    return Path(folder)


def make_adapter(base_dir, folder, lora_kwargs, seed, dtype, safe=True):
    """get_peft_model on the base (loaded in its dtype, so PEFT keeps adapter weights in float32), every LoRA
    factor, DoRA magnitude, modules_to_save copy and trainable bias set to seeded non-zero values, then
    save_pretrained. Returns the adapter folder and PEFT's LoraConfig as saved."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=dtype)
    with warnings.catch_warnings():  # PEFT's notice that it sets fan_in_fan_out itself for Conv1D (a case here)
        warnings.filterwarnings("ignore", message="fan_in_fan_out is set to False")
        peft_model = get_peft_model(model, LoraConfig(**lora_kwargs))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "lora_A" in name or "lora_embedding_A" in name:
                p.copy_(noise / p.shape[-1] ** 0.5)
            elif "lora_B" in name or "lora_embedding_B" in name:
                p.copy_(noise * 0.02)
            elif "lora_magnitude_vector" in name:
                p.mul_(1 + 0.05 * noise)
            elif "modules_to_save" in name:
                p.copy_(noise * 0.05)
            elif p.requires_grad:  # biases trained with bias="all" / "lora_only"
                p.add_(noise * 0.02)
    peft_model.save_pretrained(folder, safe_serialization=safe)
    return Path(folder)


def peft_merged(base_dir, adapter_dir, out_dtype):
    """PEFT's merge_and_unload in float32 of the saved adapter onto the saved base, rounded once to `out_dtype`."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    return merged.to(out_dtype).eval()


def model_with_state(base_dir, merged, out_dtype):
    """The base architecture loaded as transformers loads a `out_dtype` checkpoint (buffers such as rotary inv_freq
    stay as transformers makes them), holding the merged weights: what the exported folder should load as."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=out_dtype)
    model.load_state_dict(merged.state_dict(), strict=True)
    return model.eval()


def read_folder(folder):
    """Every tensor of every safetensors file in a folder, read with the Rust reader (index checked too)."""
    from checks import rust_tensors
    return rust_tensors(Path(folder))


def ordered_bits(t):
    """Float bits as integers ordered like the floats (adjacent floats differ by 1): ulp distances by subtraction."""
    t = t.contiguous()
    i = t.view(torch.int16 if t.element_size() == 2 else torch.int32).to(torch.int64)
    sign = 1 << (t.element_size() * 8 - 1)
    return torch.where(i < 0, -(i + sign), i)


def ulp_diff(a, b):
    """Largest distance in units in the last place between two same-dtype float tensors (0: bit-identical)."""
    assert a.dtype == b.dtype and a.shape == b.shape, f"{a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
    if a.numel() == 0:
        return 0
    return int((ordered_bits(a) - ordered_bits(b)).abs().max())


def compare_state(out, ref_model):
    """Per output tensor, the ulp distance to the reference model's tensor of the same name. Names must match
    save_pretrained's (tied weights dropped) exactly."""
    ref = {k: v for k, v in ref_model.state_dict().items()}
    tied = set()
    if getattr(ref_model.config, "tie_word_embeddings", False):
        tied = {k for k in ref if k.endswith("lm_head.weight")}
    expected = {k for k in ref if k not in tied and not k.endswith(".attn.bias") and not k.endswith(".masked_bias")}
    assert set(out) == expected, f"missing {sorted(expected - set(out))}, unexpected {sorted(set(out) - expected)}"
    return {k: ulp_diff(out[k], ref[k].detach()) for k in sorted(out)}


def load_exported(folder):
    """The exported folder loaded by transformers (dtype from config.json): no missing, unexpected or mismatched
    key, and no warning logged."""
    from checks import assert_clean_load, load
    model, info, logs = load(Path(folder), torch_dtype="auto")
    assert_clean_load(info, logs)
    return model, info


def logits(model):
    with torch.no_grad():
        return model(input_ids=INPUT_IDS, use_cache=False).logits


def adapter_config(adapter_dir):
    return json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
