"""Every way users save a model: save_pretrained (.bin, sharded) and bare torch.save state dicts (wrapped,
`module.`-prefixed, legacy format, views of shared storage). The export must load in transformers as the source."""

from __future__ import annotations

import json

import pytest
import torch

from checks import DTYPES, assert_bits_equal, assert_clean_load, assert_state_dicts_identical, load, logits, \
    rust_tensors
from tiny_models import BARE_KINDS, save_bare, save_hf, tiny_model
from truecast_cli import export

HF_LAYOUTS = {  # name: save_pretrained arguments
    "bin": dict(safe=False),
    "sharded-safetensors": dict(safe=True, max_shard_size="20KB"),
    "sharded-bin": dict(safe=False, max_shard_size="20KB"),
}
HF_CASES = [(arch, layout, src_dtype, dtype)
            for arch in ("llama", "llama_tied", "gpt2", "gpt_neox")
            for layout in HF_LAYOUTS
            for src_dtype, dtype in (("float32", "keep"), ("bfloat16", "keep"), ("float32", "bfloat16"))
            if layout == "bin" or src_dtype == "float32"]


def check_output(out, src_dtype: str, dtype: str, ref) -> None:
    """The output folder loads cleanly in the dtype it announces, with the reference's weights and logits."""
    want = src_dtype if dtype == "keep" else dtype
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == want
    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, logs)
    assert model.dtype == DTYPES[want]
    assert_state_dicts_identical(model.state_dict(), ref.state_dict)
    assert_bits_equal(logits(model), ref.logits, "logits")
    for name, t in rust_tensors(out).items():
        assert_bits_equal(t, ref.state_dict[name], name)


@pytest.mark.parametrize("arch,layout,src_dtype,dtype", HF_CASES, ids=["-".join(c) for c in HF_CASES])
def test_save_pretrained_layouts(arch, layout, src_dtype, dtype, hf_model, reference, tmp_path):
    src = hf_model(arch, dtype=DTYPES[src_dtype], **HF_LAYOUTS[layout])
    if "sharded" in layout:
        assert len(list(src.glob("*.index.json"))) == 1, "the source should be sharded"
    out = tmp_path / "out"
    export(src, out, "--dtype", dtype, "--quiet")
    check_output(out, src_dtype, dtype, reference(src, None if dtype == "keep" else dtype))


BARE_CASES = [(arch, kind, "float32", "keep") for arch in ("llama", "llama_tied", "gpt2") for kind in BARE_KINDS] + [
    ("llama", "state_dict", "bfloat16", "keep"),
    ("gpt2", "views", "bfloat16", "keep"),
    ("llama_tied", "views", "float32", "bfloat16"),
    ("gpt_neox", "legacy", "bfloat16", "float32"),
    ("phi", "module_prefix", "float32", "float16"),
]


@pytest.mark.parametrize("arch,kind,src_dtype,dtype", BARE_CASES, ids=["-".join(c) for c in BARE_CASES])
def test_bare_state_dicts(arch, kind, src_dtype, dtype, hf_model, reference, tmp_path):
    src_folder = hf_model(arch, dtype=DTYPES[src_dtype])  # the same model, as save_pretrained writes it
    model = tiny_model(arch, dtype=DTYPES[src_dtype])
    ref = reference(src_folder, None if dtype == "keep" else dtype)
    assert_state_dicts_identical(model.state_dict(), reference(src_folder).state_dict)

    ckpt = save_bare(model, tmp_path / "checkpoint.pt", kind)
    out = tmp_path / "out"
    export(ckpt, out, "--dtype", dtype, "--quiet")
    add_config(out, src_folder, src_dtype if dtype == "keep" else dtype)
    check_output(out, src_dtype, dtype, ref)


def add_config(out, src_folder, written: str) -> None:
    """A bare checkpoint carries no config, and truecast writes no config.json for it yet (issue 10 item 3): put
    the model's config in, stating the dtype written (what truecast does for folders, checked elsewhere)."""
    if not (out / "config.json").exists():
        config = json.loads((src_folder / "config.json").read_text())
        config["torch_dtype"] = written
        (out / "config.json").write_text(json.dumps(config, indent=2))


@pytest.mark.parametrize("dtype", ["keep", "bfloat16"])
def test_single_safetensors_file(dtype, hf_model, reference, tmp_path):
    """`export model.safetensors out`: the file alone, as save_pretrained wrote it."""
    src_folder = hf_model("gpt2")
    out = tmp_path / "out"
    export(src_folder / "model.safetensors", out, "--dtype", dtype, "--quiet")
    add_config(out, src_folder, "float32" if dtype == "keep" else dtype)
    check_output(out, "float32", dtype, reference(src_folder, None if dtype == "keep" else dtype))


def test_trainer_checkpoint_folder(reference, tmp_path):
    """A Trainer `checkpoint-N` folder: the model is exported; optimizer, scheduler, RNG state and training
    arguments (pickles) are not carried into the output."""
    model = tiny_model("llama")
    src = save_hf(model, tmp_path / "checkpoint-2")
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(params)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    torch.save(optimizer.state_dict(), src / "optimizer.pt")
    torch.save({"last_epoch": 1}, src / "scheduler.pt")
    torch.save({"cpu": torch.get_rng_state()}, src / "rng_state.pth")
    torch.save({"output_dir": "x"}, src / "training_args.bin")
    (src / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    ref = reference(save_hf(tiny_model("llama"), tmp_path / "reference"))

    out = tmp_path / "out"
    export(src, out, "--quiet")
    check_output(out, "float32", "keep", ref)
    assert not [p.name for p in out.iterdir() if p.suffix in (".pt", ".pth", ".bin")]

