"""H2O LLM Studio LoRA experiments made by real PEFT (h2o_support.py), exported with
`truecast export EXPERIMENT OUT --base BASE_FOLDER`, compared with PEFT's merge_and_unload() in float32 rounded
once into the output dtype, and loaded back with transformers.

- GPT-2 (Conv1D layers, attn.c_proj square): PEFT sets fan_in_fan_out itself; the merge must transpose every
  Conv1D delta, square ones included, whether or not adapter_model/ is there to say so.
- int4 run with lora_unfreeze_layers [lm_head]: the quantized weights come from the base model, the trained lm_head
  from checkpoint.pth (float32, as the run held it), not from the base model.
"""
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, GPT2LMHeadModel, LlamaForCausalLM

from h2o_support import cfg_yaml, peft_reference, prepare_lora, write_experiment
from peft_support import gpt2_config, llama_config, logits, read_folder, save_base
from truecast_cli import export

GPT2_TARGETS = ("c_attn", "c_proj", "c_fc")
LLAMA_TARGETS = ("q_proj", "v_proj", "down_proj")


@pytest.fixture(scope="module")
def gpt2_base(tmp_path_factory):
    return save_base(gpt2_config(), tmp_path_factory.mktemp("h2o") / "gpt2-base", torch.bfloat16, seed=301)


@pytest.fixture(scope="module")
def llama_base(tmp_path_factory):
    return save_base(llama_config(), tmp_path_factory.mktemp("h2o") / "llama-base", torch.bfloat16, seed=302)


def assert_bits(out, expected):
    assert set(out) == set(expected), f"missing {sorted(set(expected) - set(out))}, extra {sorted(set(out) - set(expected))}"
    wrong = [k for k in sorted(out) if out[k].dtype != expected[k].dtype or not torch.equal(out[k], expected[k])]
    assert not wrong, "not bit-identical to PEFT's merge: " + ", ".join(
        f"{k} ({out[k].dtype} vs {expected[k].dtype}, {int((out[k].float() != expected[k].float()).sum())} elements)"
        for k in wrong)


def assert_loads_as(out_dir, base_dir, state, dtype):
    """transformers loads the export cleanly, and computes the logits of the base architecture holding `state`."""
    model, info = AutoModelForCausalLM.from_pretrained(out_dir, torch_dtype=dtype, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == [], info
    expected = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=dtype)
    expected.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=False)
    assert torch.equal(logits(model.eval()), logits(expected.eval()))


@pytest.mark.parametrize("adapter_model", [True, False], ids=["with-adapter_model", "checkpoint-only"])
def test_gpt2_lora_run_merges_conv1d_transposed(gpt2_base, tmp_path, adapter_model):
    r, alpha, seed = 4, 8, 41
    run = prepare_lora(GPT2LMHeadModel.from_pretrained(gpt2_base, torch_dtype=torch.bfloat16), r, alpha,
                       GPT2_TARGETS, [], seed)
    assert run.peft_config["default"].fan_in_fan_out is True  # PEFT flipped it for Conv1D
    assert run.base_model.model.transformer.h[0].attn.c_proj.base_layer.weight.shape == (32, 32)  # square
    exp = write_experiment(tmp_path / "exp", run, cfg_yaml("truecast-test/tiny-gpt2", "bfloat16", r, alpha,
                                                             GPT2_TARGETS, []), adapter_model=adapter_model)
    export(exp, tmp_path / "out", "--base", gpt2_base, "--quiet")

    ref = peft_reference(gpt2_base, run, GPT2LMHeadModel, r, alpha, GPT2_TARGETS, seed)
    expected = {k: v.to(torch.bfloat16) for k, v in ref.items() if k != "lm_head.weight"}  # tied: left out
    out = read_folder(tmp_path / "out")
    assert_bits(out, expected)
    base = read_folder(gpt2_base)
    assert not torch.equal(out["transformer.h.0.attn.c_proj.weight"], base["transformer.h.0.attn.c_proj.weight"])
    assert_loads_as(tmp_path / "out", gpt2_base, expected, torch.bfloat16)


@pytest.mark.parametrize("dtype", ["keep", "bfloat16"])
def test_int4_run_keeps_the_trained_lm_head(llama_base, tmp_path, dtype):
    r, alpha, seed, unfreeze = 4, 16, 43, ["lm_head"]
    # int4 runs load the backbone in float16 and hold every non-quantized parameter in float32
    run = LlamaForCausalLM.from_pretrained(llama_base, torch_dtype=torch.float16).float()
    run = prepare_lora(run, r, alpha, LLAMA_TARGETS, unfreeze, seed)
    trained = [n for n, p in run.named_parameters() if p.requires_grad and "lora_" not in n]
    assert trained == ["base_model.model.lm_head.weight"], trained
    exp = write_experiment(tmp_path / "exp", run, cfg_yaml("truecast-test/tiny-llama", "int4", r, alpha,
                                                             LLAMA_TARGETS, unfreeze), quantized=True,
                           adapter_model=False)
    with safe_open(str(llama_base / "model.safetensors"), framework="pt") as f:
        base_head = f.get_tensor("lm_head.weight")
    lm_head = run.base_model.model.lm_head.weight.detach().clone()
    assert not torch.equal(lm_head.to(torch.bfloat16), base_head)
    export(exp, tmp_path / "out", "--base", llama_base, "--quiet", *([] if dtype == "keep" else ["--dtype", dtype]))

    # every weight: PEFT's merge into the base model's own bf16 weights; lm_head: the run's, float32 unless converted
    ref = peft_reference(llama_base, run, LlamaForCausalLM, r, alpha, LLAMA_TARGETS, seed)
    expected = {k: v.to(torch.bfloat16) for k, v in ref.items()}
    expected["lm_head.weight"] = lm_head if dtype == "keep" else lm_head.to(torch.bfloat16)
    out = read_folder(tmp_path / "out")
    assert_bits(out, expected)
    assert_loads_as(tmp_path / "out", llama_base, expected, torch.float32)
    if dtype == "keep":
        # the card's snippet loads the mix exactly: torch_dtype="auto" takes config.json's bfloat16 and rounds lm_head
        card = (tmp_path / "out" / "README.md").read_text()
        assert "torch_dtype=torch.float32)" in card, card
        auto = AutoModelForCausalLM.from_pretrained(tmp_path / "out", torch_dtype="auto")
        assert not torch.equal(auto.lm_head.weight.float(), lm_head)


def test_bf16_run_with_unfrozen_embeddings(llama_base, tmp_path):
    r, alpha, seed, unfreeze = 8, 16, 45, ["embed_tokens"]
    run = prepare_lora(LlamaForCausalLM.from_pretrained(llama_base, torch_dtype=torch.bfloat16), r, alpha,
                       LLAMA_TARGETS, unfreeze, seed)
    exp = write_experiment(tmp_path / "exp", run, cfg_yaml("truecast-test/tiny-llama", "bfloat16", r, alpha,
                                                             LLAMA_TARGETS, unfreeze), adapter_model=False)
    export(exp, tmp_path / "out", "--base", llama_base, "--quiet")
    ref = peft_reference(llama_base, run, LlamaForCausalLM, r, alpha, LLAMA_TARGETS, seed)
    expected = {k: v.to(torch.bfloat16) for k, v in ref.items()}
    expected["model.embed_tokens.weight"] = run.base_model.model.model.embed_tokens.weight.detach().clone()
    assert_bits(read_folder(tmp_path / "out"), expected)
    assert_loads_as(tmp_path / "out", llama_base, expected, torch.bfloat16)
