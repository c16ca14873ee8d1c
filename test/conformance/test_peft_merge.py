"""Real PEFT adapters merged by `truecast export BASE OUT --adapter ADAPTER`, compared with PEFT's own
merge_and_unload() (in float32, rounded once into the output dtype): every tensor, and the logits transformers
computes from the exported folder.

Bounds: 16-bit outputs are bit-identical. float32 outputs and DoRA may differ from PEFT where PEFT's float32
arithmetic rounds in an order truecast does not reproduce; each case states the largest difference it allows, in
ulp of the output, and every bound is what was measured on these cases (Debian's torch 1.13):
- LoRA, float32 output: 0 ulp. truecast sums B·A over the rank in increasing order, each product and partial sum
  rounded to float32, as this torch's generic BLAS does. (A torch built on MKL with FMA, e.g. PyPI's torch 2.x,
  rounds differently: float32 merges then differ by up to ~2^14 ulp where W + delta nearly cancels, and about one
  element in a thousand of a bf16 output by 1 ulp.)
- DoRA, float32 output: up to 3 ulp (Linear) and 5 ulp (GPT-2 Conv1D): PEFT takes the weight norm with
  torch.linalg.norm in float32, in its own vectorized order; truecast sums the squares in float64. 16-bit DoRA
  outputs are bit-identical here.
"""
import zlib

import pytest
import torch

from peft_support import (DTYPES, compare_state, gpt2_config, llama_config, load_exported, logits, make_adapter,
                          model_with_state, peft_merged, read_folder, run_cli, save_base)

BASES = {
    "llama-bf16": (lambda: llama_config(), "bfloat16"),
    "llama-fp16": (lambda: llama_config(), "float16"),
    "llama-tied-bf16": (lambda: llama_config(tie_word_embeddings=True), "bfloat16"),
    "llama-bias-bf16": (lambda: llama_config(attention_bias=True, mlp_bias=True), "bfloat16"),
    "gpt2-bf16": (lambda: gpt2_config(), "bfloat16"),
}

ATTN = ["q_proj", "v_proj"]
# (id, base, LoraConfig fields, adapter format, --dtype, allowed ulp)
CASES = [
    ("plain", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN), "safetensors", "keep", 0),
    ("plain-bin", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN), "bin", "keep", 0),
    ("plain-fp16", "llama-fp16", dict(r=8, lora_alpha=16, target_modules=ATTN), "safetensors", "keep", 0),
    ("plain-to-fp16", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN), "safetensors", "float16", 0),
    ("plain-to-fp32", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN), "safetensors", "float32", 0),
    ("rslora", "llama-bf16", dict(r=4, lora_alpha=8, use_rslora=True, target_modules=ATTN), "safetensors", "keep", 0),
    ("rank-alpha-patterns", "llama-bf16",
     dict(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
          rank_pattern={"q_proj": 4, "layers.0.self_attn.v_proj": 2}, alpha_pattern={"k_proj": 32, "o_proj": 3}),
     "safetensors", "keep", 0),
    ("layers-to-transform", "llama-bf16",
     dict(r=8, lora_alpha=16, target_modules=["q_proj", "o_proj", "down_proj"], layers_to_transform=[1]),
     "safetensors", "keep", 0),
    ("mlp", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=["gate_proj", "up_proj", "down_proj"]), "bin",
     "keep", 0),
    ("modules-to-save", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN, modules_to_save=["lm_head"]),
     "safetensors", "keep", 0),
    ("embedding", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=["embed_tokens", "q_proj"]), "safetensors",
     "keep", 0),
    ("tied-embedding", "llama-tied-bf16", dict(r=8, lora_alpha=16, target_modules=["embed_tokens", "v_proj"]),
     "safetensors", "keep", 0),
    ("tied-lm-head", "llama-tied-bf16", dict(r=8, lora_alpha=16, target_modules=["q_proj", "lm_head"]), "safetensors",
     "keep", 0),
    ("tied-attn-fp32", "llama-tied-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN), "bin", "float32", 0),
    ("bias-all", "llama-bias-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN, bias="all"), "safetensors", "keep", 0),
    ("bias-lora-only", "llama-bias-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN, bias="lora_only"), "bin",
     "keep", 0),
    ("dora", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN + ["down_proj"], use_dora=True), "safetensors",
     "keep", 0),
    ("dora-fp32", "llama-bf16", dict(r=8, lora_alpha=16, target_modules=ATTN, use_dora=True), "safetensors", "float32",
     3),
    ("gpt2-conv1d", "gpt2-bf16", dict(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"],
                                      fan_in_fan_out=True), "safetensors", "keep", 0),
    ("gpt2-conv1d-peft-sets-fan-in-fan-out", "gpt2-bf16", dict(r=4, lora_alpha=8, target_modules=["c_proj"]), "bin",
     "keep", 0),
    ("gpt2-bias-all", "gpt2-bf16", dict(r=4, lora_alpha=8, target_modules=["c_attn"], bias="all"), "bin", "keep", 0),
    ("gpt2-dora", "gpt2-bf16", dict(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
                                    use_dora=True), "safetensors", "keep", 0),
    ("gpt2-dora-fp32", "gpt2-bf16", dict(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
                                         use_dora=True), "safetensors", "float32", 5),
    ("gpt2-conv1d-fp32", "gpt2-bf16", dict(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj"],
                                           fan_in_fan_out=True), "safetensors", "float32", 0),
]


@pytest.fixture(scope="session")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("peft-bases")
    made = {}

    def get(name):
        if name not in made:
            config, dtype = BASES[name]
            made[name] = save_base(config(), root / name, DTYPES[dtype], seed=len(made) + 100)
        return made[name]

    return get


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_adapter_merge_matches_peft(case, bases, tmp_path):
    name, base_name, lora, fmt, dtype, allowed_ulp = case
    base = bases(base_name)
    base_dtype = DTYPES[BASES[base_name][1]]
    adapter = make_adapter(base, tmp_path / "adapter", lora, seed=zlib.crc32(name.encode()) % 10_000, dtype=base_dtype,
                           safe=(fmt == "safetensors"))
    assert (adapter / ("adapter_model.safetensors" if fmt == "safetensors" else "adapter_model.bin")).is_file()
    out = tmp_path / "out"
    args = ["export", base, out, "--adapter", adapter, "--quiet"] + ([] if dtype == "keep" else ["--dtype", dtype])
    run_cli(*args)

    out_dtype = base_dtype if dtype == "keep" else DTYPES[dtype]
    ref = peft_merged(base, adapter, out_dtype)
    tensors = read_folder(out)
    assert {t.dtype for t in tensors.values()} == {out_dtype}
    diffs = compare_state(tensors, ref)
    worst = max(diffs.values())
    assert worst <= allowed_ulp, f"{name}: up to {worst} ulp from PEFT: " + \
        ", ".join(f"{k} {d}" for k, d in diffs.items() if d)
    # the merge changed something: a test that cannot fail is no test
    base_tensors = read_folder(base)
    assert any(not torch.equal(tensors[k].float(), base_tensors[k].float()) for k in base_tensors if k in tensors)

    model, info = load_exported(out)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [], info
    assert next(model.parameters()).dtype == out_dtype
    expected = model_with_state(base, ref, out_dtype)
    if out_dtype == torch.float16:  # torch 1.13 has no float16 matmul on CPU: compare in float32 (exact upcast)
        model, expected = model.float(), expected.float()
    got, want = logits(model), logits(expected)
    if allowed_ulp == 0:
        assert torch.equal(got, want), f"{name}: logits differ from PEFT's merged model"
    else:  # weights a few ulp apart: logits within float32 noise (measured: under 1e-6 here)
        worst_logit = float((got - want).abs().max())
        assert worst_logit < 1e-6, f"{name}: logits up to {worst_logit} from PEFT's merged model"



def test_pattern_keys_peft_resolves_differently_by_release(bases, tmp_path):
    """A module matched by a rank_pattern key and by a different alpha_pattern key: PEFT < 0.14 (0.12 here) takes
    its alpha from the rank key (the default lora_alpha), PEFT >= 0.14 from alpha_pattern. adapter_config.json
    says which PEFT saved it only from 0.18 on: without peft_version truecast refuses the module by name; with
    it, the merge is PEFT 0.12's, bit for bit."""
    import json
    base = bases("llama-bf16")
    lora = dict(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                rank_pattern={"q_proj": 4, "layers.1.self_attn.v_proj": 2}, alpha_pattern={"v_proj": 32})
    adapter = make_adapter(base, tmp_path / "adapter", lora, seed=77, dtype=torch.bfloat16)
    cfg_path = adapter / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    assert "peft_version" not in cfg
    p = run_cli("export", base, tmp_path / "refused", "--adapter", adapter, check=False)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("truecast: ")
    assert 'module "model.layers.1.self_attn.v_proj" has r=2, lora_alpha=16 under PEFT < 0.14' in p.stderr, p.stderr
    assert not (tmp_path / "refused").exists()

    # PEFT 0.12 used lora_alpha 16 there (scaling 8), not alpha_pattern's 32
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
    assert loaded.base_model.model.model.layers[1].self_attn.v_proj.scaling["default"] == 8
    ref = peft_merged(base, adapter, torch.bfloat16)  # before the edit: PEFT 0.12 refuses keys it does not know

    cfg["peft_version"] = "0.12.0"
    cfg_path.write_text(json.dumps(cfg))
    run_cli("export", base, tmp_path / "out", "--adapter", adapter, "--quiet")
    diffs = compare_state(read_folder(tmp_path / "out"), ref)
    assert max(diffs.values()) == 0, {k: d for k, d in diffs.items() if d}
