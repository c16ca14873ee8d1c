"""Loading truecast's output with the real libraries, and bit-level comparisons."""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, PreTrainedModel

from tiny_models import input_ids

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_INT_VIEW = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16,
             torch.float64: torch.int64}


class Captured(list):
    """Messages logged by transformers (WARNING and up) and Python warnings raised inside `capture_warnings`."""


class _ListHandler(logging.Handler):
    def __init__(self, sink: list) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def capture_warnings():
    """Collect transformers' (and accelerate's, safetensors') log warnings and every Python warning."""
    sink = Captured()
    handler = _ListHandler(sink)
    loggers = [logging.getLogger(n) for n in ("transformers", "accelerate", "safetensors", "huggingface_hub")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.level == logging.NOTSET or lg.level > logging.WARNING:
            lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield sink
        sink.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)


def load(path: Path, **kwargs) -> tuple[PreTrainedModel, dict, list[str]]:
    """`AutoModelForCausalLM.from_pretrained(path, output_loading_info=True, **kwargs)` with its warnings."""
    with capture_warnings() as logs:
        model, info = AutoModelForCausalLM.from_pretrained(path, output_loading_info=True, **kwargs)
    return model.eval(), info, list(logs)


def assert_clean_load(info: dict, logs: list[str]) -> None:
    """No missing, unexpected or mismatched keys, no error, and nothing logged at WARNING or above."""
    problems = {k: v for k, v in info.items() if v}
    assert not problems, f"loading info: {problems}"
    assert not logs, "warnings while loading:\n" + "\n".join(logs)


def bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bits as integers (so -0.0 != 0.0 and NaN payloads count)."""
    t = t.detach().contiguous()
    return t.view(_INT_VIEW[t.dtype]) if t.dtype in _INT_VIEW else t


def assert_bits_equal(got: torch.Tensor, want: torch.Tensor, what: str = "tensor") -> None:
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert tuple(got.shape) == tuple(want.shape), f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    if not torch.equal(bits(got), bits(want)):
        differ = int((bits(got) != bits(want)).sum())
        raise AssertionError(f"{what}: {differ}/{got.numel()} elements differ in their bits")


def assert_state_dicts_identical(got: dict, want: dict) -> None:
    """Same names, dtypes, shapes and bits."""
    assert sorted(got) == sorted(want), f"keys differ: only got {sorted(set(got) - set(want))}, " \
                                        f"only want {sorted(set(want) - set(got))}"
    for name in want:
        assert_bits_equal(got[name], want[name], name)


def logits(model: PreTrainedModel) -> torch.Tensor:
    """Logits on the fixed input. torch 1.13 has no float16 matmul on CPU, so a float16 model runs as float32
    (an exact widening: equal float16 weights still give bit-equal float32 logits)."""
    if model.dtype == torch.float16:
        model = model.float()
    with torch.no_grad():
        return model(input_ids(), use_cache=False).logits


def rust_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every `*.safetensors` file in `folder`, read by the Rust `safe_open`."""
    tensors: dict[str, torch.Tensor] = {}
    files = sorted(folder.glob("*.safetensors"))
    assert files, f"no .safetensors in {folder}"
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            assert fh.metadata() == {"format": "pt"}, f"{f.name}: metadata {fh.metadata()}"
            for k in fh.keys():
                assert k not in tensors, f"{k} in two shards"
                tensors[k] = fh.get_tensor(k)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        assert sorted(weight_map) == sorted(tensors)
        for k in weight_map:
            with safe_open(str(folder / weight_map[k]), framework="pt") as fh:
                assert k in fh.keys()
    return tensors


def json_typed(value):
    """A JSON value with its types made explicit, so 2.0 and 2 compare unequal (Python says 2.0 == 2)."""
    if isinstance(value, dict):
        return {k: json_typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_typed(v) for v in value]
    return (type(value).__name__, value)
