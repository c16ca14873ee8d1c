"""H2O LLM Studio experiments made at test time with real transformers and real PEFT, as H2O LLM Studio
(h2oai/h2o-llmstudio a4971c1, llm_studio/src/utils/modeling_utils.py) makes them:

- create_nlp_backbone: int4/int8 runs load the backbone quantized with torch_dtype float16 and, for LoRA, cast every
  non-quantized float16/bfloat16 parameter to float32; other runs load it in backbone_dtype.
- prepare_lora: LoraConfig(r=lora_r, lora_alpha, target_modules, use_dora, use_rslora, bias="none",
  task_type="CAUSAL_LM"), fan_in_fan_out left False (PEFT sets it, on the config too, for transformers' Conv1D);
  then every parameter whose PEFT name contains an entry of lora_unfreeze_layers is trained in full.
- save_checkpoint: torch.save({"model": model.state_dict()}) (keys "backbone." + the PeftModel's names), and, only
  when lora_unfreeze_layers is empty, model.backbone.save_pretrained("adapter_model").
- save_config_yaml: yaml.dump of the nested config (sorted keys, indent 4).
bitsandbytes needs a GPU, so an int4 run's Linear4bit tensors are imitated (packed uint8 + companions); truecast
replaces those bytes by the base model's own weights, as H2O's export reloads the base model.
"""
import json
import warnings
from pathlib import Path

import torch
import yaml


def cfg_yaml(backbone, backbone_dtype, r, alpha, targets, unfreeze):
    cfg = {
        "architecture": {"backbone_dtype": backbone_dtype, "gradient_checkpointing": True, "intermediate_dropout": 0.0,
                         "pretrained": True, "pretrained_weights": ""},
        "dataset": {"answer_column": "output", "prompt_column": ["instruction"], "text_answer_separator": "<|answer|>",
                    "text_prompt_start": "<|prompt|>"},
        "environment": {"compile_model": False, "gpus": ["0"], "huggingface_branch": "main", "mixed_precision": True,
                        "seed": 42, "trust_remote_code": True, "use_deepspeed": False},
        "experiment_name": f"conformance-{backbone_dtype}",
        "llm_backbone": backbone,
        "output_directory": "/tmp/h2o-output/",
        "problem_type": "text_causal_language_modeling",
        "tokenizer": {"add_prompt_answer_tokens": False, "max_length": 512},
        "training": {"batch_size": 2, "epochs": 1, "learning_rate": 0.0001, "lora": True, "lora_alpha": alpha,
                     "lora_dropout": 0.05, "lora_r": r, "lora_target_modules": ", ".join(targets),
                     "lora_unfreeze_layers": list(unfreeze), "use_dora": False, "use_rslora": False},
    }
    return yaml.dump(cfg, indent=4)


def prepare_lora(backbone, r, alpha, targets, unfreeze, seed):
    """H2O's prepare_lora, then trained-looking values: LoRA factors seeded, unfrozen layers moved."""
    from peft import LoraConfig, get_peft_model
    for p in backbone.parameters():
        p.requires_grad = False
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.05, bias="none",
                        use_rslora=False, use_dora=False, task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PEFT: "fan_in_fan_out is set to False but the target module is Conv1D"
        model = get_peft_model(backbone, config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "lora_A" in name:
                p.copy_(noise / p.shape[-1] ** 0.5)
            elif "lora_B" in name:
                p.copy_(noise * 0.02)
            elif any(u in name for u in unfreeze):
                p.requires_grad = True
                p.add_(noise.to(p.dtype) * 0.05)
    return model


def nf4_like(w):
    """A Linear4bit's saved tensors: packed uint8 weight [numel/2, 1] and its companions (values only plausible)."""
    flat = w.float().reshape(-1, 64)
    absmax = flat.abs().amax(dim=1)
    codes = torch.clamp(torch.round((flat / absmax[:, None] + 1) * 7.5), 0, 15).to(torch.uint8).reshape(-1)
    packed = (codes[0::2] << 4 | codes[1::2]).reshape(-1, 1)
    state = json.dumps({"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": list(w.shape)}).encode()
    return {"weight": packed, "weight.absmax": absmax, "weight.quant_map": torch.linspace(-1, 1, 16),
            "weight.quant_state.bitsandbytes__nf4": torch.tensor(list(state), dtype=torch.uint8)}


def write_experiment(folder, run, cfg_text, quantized=False, adapter_model=True):
    """cfg.yaml, checkpoint.pth ({"model": {"backbone." + k: v}}) and adapter_model/ as H2O saves them. With
    `quantized`, every *_proj weight is stored as a Linear4bit would save it."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    (folder / "cfg.yaml").write_text(cfg_text)
    ckpt = {}
    for k, v in run.state_dict().items():
        if quantized and (k.endswith("_proj.weight") or k.endswith("_proj.base_layer.weight")):
            for suffix, t in nf4_like(v).items():
                ckpt["backbone." + k[: -len("weight")] + suffix] = t
        else:
            ckpt["backbone." + k] = v
    torch.save({"model": ckpt}, folder / "checkpoint.pth")
    if adapter_model:
        run.save_pretrained(folder / "adapter_model")
    return folder


def peft_reference(base_dir, run, backbone_cls, r, alpha, targets, seed):
    """The run's LoRA factors on the base model held in float32 (its 16-bit values, exactly), merged by PEFT's
    merge_and_unload() in float32: the state dict before rounding to the output dtype."""
    ref = prepare_lora(backbone_cls.from_pretrained(base_dir, torch_dtype=torch.float32), r, alpha, targets, [], seed)
    lora = {k: v for k, v in run.state_dict().items() if "lora_" in k}
    missing = ref.load_state_dict(lora, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    return {k: v.detach() for k, v in ref.merge_and_unload().state_dict().items()}
