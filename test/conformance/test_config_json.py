"""config.json after export: transformers reads the same config (rope_scaling of each kind, float fields holding
whole numbers), without a warning, and the dtype keys tell the truth."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig

from checks import assert_bits_equal, assert_clean_load, assert_state_dicts_identical, capture_warnings, \
    json_typed, load, logits
from tiny_models import ARCHS, LEGACY_ROPE_WARNS, ROPE_SCALINGS, save_hf, tiny_model
from truecast_cli import export

DTYPE_KEYS = ("torch_dtype", "dtype")


def without_dtype(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in DTYPE_KEYS}


@pytest.mark.parametrize("case", list(ROPE_SCALINGS))
@pytest.mark.parametrize("dtype", ["keep", "bfloat16"])
def test_rope_scaling_survives(case, dtype, hf_model, reference, tmp_path):
    arch, rope_scaling = ROPE_SCALINGS[case]
    src = hf_model(arch, rope_scaling=rope_scaling)
    written = json.loads((src / "config.json").read_text())["rope_scaling"]
    assert all(json_typed(written[k]) == json_typed(v) for k, v in rope_scaling.items()), written
    out = tmp_path / "out"
    export(src, out, "--dtype", dtype, "--quiet")

    legacy = case in LEGACY_ROPE_WARNS
    ref = reference(src, None if dtype == "keep" else dtype, allow_logs=legacy)
    assert bool(ref.logs) == legacy, ref.logs  # transformers 4.44.2 warns on llama's legacy spelling itself

    with capture_warnings() as logs:
        config = AutoConfig.from_pretrained(out)
    assert len(logs) == len(set(ref.logs)) and set(logs) == set(ref.logs), "\n".join(logs)
    with capture_warnings() as logs:
        src_config = AutoConfig.from_pretrained(src)
    assert json_typed(config.rope_scaling) == json_typed(src_config.rope_scaling)

    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, [line for line in logs if line not in ref.logs])
    assert_state_dicts_identical(model.state_dict(), ref.state_dict)
    assert_bits_equal(logits(model), ref.logits, "logits")


@pytest.mark.parametrize("arch", list(ARCHS))
def test_config_values_keep_their_types(arch, hf_model, tmp_path):
    """Every key but the dtype keys reads back as the same JSON value of the same type (10000.0 stays a float)."""
    src = hf_model(arch)
    out = tmp_path / "out"
    export(src, out, "--dtype", "bfloat16", "--quiet")
    before = json.loads((src / "config.json").read_text())
    after = json.loads((out / "config.json").read_text())
    assert json_typed(without_dtype(after)) == json_typed(without_dtype(before))
    assert after["torch_dtype"] == "bfloat16"
    assert after.get("dtype", "bfloat16") == "bfloat16"


@pytest.mark.parametrize("claimed", ["float16", "float32", None])
def test_config_that_lies_is_corrected(claimed, tmp_path):
    """A bfloat16 model whose config.json claims another dtype (trainers do this) or none: after export,
    transformers' torch_dtype="auto" loads bfloat16, the dtype of the weights."""
    src = save_hf(tiny_model("llama", dtype=torch.bfloat16), tmp_path / "src")
    config = json.loads((src / "config.json").read_text())
    config["torch_dtype"] = claimed
    if claimed is None:
        del config["torch_dtype"]
    (src / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    out = tmp_path / "out"
    export(src, out, "--quiet")
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, logs)
    assert model.dtype == torch.bfloat16
    ref, _, _ = load(src, torch_dtype=torch.bfloat16)
    assert_state_dicts_identical(model.state_dict(), ref.state_dict())
    assert_bits_equal(logits(model), logits(ref), "logits")


def test_other_files_are_carried_byte_for_byte(tmp_path):
    """generation_config.json and a real tokenizer's files reach the output unchanged; transformers loads the
    tokenizer from the output and it encodes as the source's does."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    src = save_hf(tiny_model("llama"), tmp_path / "src")
    vocab = {f"t{i}": i for i in range(120)} | {"<s>": 120, "</s>": 121, "<unk>": 122, "é": 123}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  clean_up_tokenization_spaces=False)
    tok.save_pretrained(src)
    carried = sorted(p.name for p in src.iterdir() if p.suffix != ".safetensors" and p.name != "config.json")
    assert {"generation_config.json", "tokenizer.json", "tokenizer_config.json"} <= set(carried)

    out = tmp_path / "out"
    export(src, out, "--dtype", "bfloat16", "--quiet")
    for name in carried:
        assert (out / name).read_bytes() == (src / name).read_bytes(), name
    with capture_warnings() as logs:
        loaded = AutoTokenizer.from_pretrained(out)
    assert not logs, "\n".join(logs)
    text = "t1 t7 é t119 unknown"
    assert loaded(text)["input_ids"] == tok(text)["input_ids"] == [1, 7, 123, 119, 122]
