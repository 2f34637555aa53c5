"""LoRA files in the kohya/A1111 layout: `lora_unet_*`, `lora_te_*` (SDXL: `lora_te1_*`, `lora_te2_*`) modules,
each with `.lora_down.weight`, `.lora_up.weight` and `.alpha`, plus kohya's `ss_*` training metadata.

UNet module names follow kohya: diffusers module paths with `_` for `.` for SD 1.x/2.x, the SGM layout's
`input_blocks_N_1_...` for SDXL (sgm_names.py); A1111, ComfyUI and diffusers' `load_lora_weights` read both. peft's lora_A is kohya's lora_down, lora_B its lora_up, and the
scale alpha / rank is the same in both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import save

from sfumato.atomic_write import atomic_write_bytes
from sfumato.train.lora.sgm_names import sgm_module_name

ADAPTER: Final = "default"  # the peft adapter name training uses
# Pipeline component -> kohya key prefix, for one- and two-encoder pipelines.
PREFIXES: Final[Mapping[bool, Mapping[str, str]]] = MappingProxyType({
    False: MappingProxyType({"unet": "lora_unet", "text_encoder": "lora_te"}),
    True: MappingProxyType({"unet": "lora_unet", "text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}),
})
# kohya's ss_base_model_version values.
BASE_MODEL_VERSIONS: Final[Mapping[str, str]] = MappingProxyType({
    "sd1": "sd_v1", "sd2": "sd_v2", "sd2-v": "sd_v2", "sd-turbo": "sd_v2", "sdxl": "sdxl_base_v1-0",
    "sdxl-turbo": "sdxl_base_v1-0", "ssd-1b": "sdxl_base_v1-0",
})


def _kohya_module(component: str, module: str, model: torch.nn.Module, sdxl: bool) -> str:
    if component == "unet" and sdxl:  # kohya's SDXL LoRAs name UNet modules in the SGM layout
        config: Any = getattr(model, "config")
        module = sgm_module_name(module, config.layers_per_block, len(config.block_out_channels))
    # transformers 5 flattened CLIPTextModel (no `text_model.` level); kohya's names come from the nested layout.
    if component != "unet" and not module.startswith("text_model."):
        module = f"text_model.{module}"
    return module.replace(".", "_")


def kohya_tensors(models: Mapping[str, torch.nn.Module], *, alpha: float, sdxl: bool,
                  dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The peft adapters of `models` ({"unet": unet, "text_encoder": ...}) under kohya's key names."""
    out: dict[str, torch.Tensor] = {}
    for component, model in models.items():
        prefix = PREFIXES[sdxl][component]
        for module_name, module in model.named_modules():
            if not isinstance(module, LoraLayer) or ADAPTER not in module.lora_A:
                continue
            name = f"{prefix}_{_kohya_module(component, module_name, model, sdxl)}"
            down: Any = module.lora_A[ADAPTER]  # nn.ModuleDict of Linear (or Conv) layers, by adapter name
            up: Any = module.lora_B[ADAPTER]
            out[f"{name}.lora_down.weight"] = down.weight.detach().to("cpu", dtype).contiguous()
            out[f"{name}.lora_up.weight"] = up.weight.detach().to("cpu", dtype).contiguous()
            out[f"{name}.alpha"] = torch.tensor(float(alpha), dtype=dtype)
    return out


def addnet_hashes(tensors: dict[str, torch.Tensor], metadata: Mapping[str, str]) -> tuple[str, str]:
    """kohya's sshs_model_hash and sshs_legacy_hash: sha256 of the tensor bytes of the file as written with the
    `ss_*` metadata only (user metadata edits must not change it), and of 64 KiB at 1 MiB (AddNet's legacy hash)."""
    data = save(tensors, metadata={k: v for k, v in metadata.items() if k.startswith("ss_")})
    header = int.from_bytes(data[:8], "little")
    legacy = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    return hashlib.sha256(data[8 + header:]).hexdigest(), legacy


def write_lora(path: Path, tensors: dict[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Add the addnet hashes and write the file atomically."""
    model_hash, legacy = addnet_hashes(tensors, metadata)
    full = {**metadata, "sshs_model_hash": model_hash, "sshs_legacy_hash": legacy}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), save(tensors, metadata=full))


def kohya_metadata(plan: Any, *, tag_frequency: Mapping[str, Mapping[str, int]],
                   dataset_dirs: Mapping[str, Mapping[str, int]], extra: Mapping[str, Any]) -> dict[str, str]:
    """The `ss_*` keys kohya's train_network.py writes, from the TrainingPlan (`plan`) and the run."""
    values: dict[str, Any] = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": plan.rank,
        "ss_network_alpha": plan.alpha,
        "ss_base_model_version": BASE_MODEL_VERSIONS.get(plan.family, plan.family),
        "ss_v2": plan.family in ("sd2", "sd2-v", "sd-turbo"),
        "ss_sd_model_name": plan.base,
        "ss_new_sd_model_hash": plan.base_hash,
        "ss_learning_rate": plan.learning_rate,
        "ss_unet_lr": plan.learning_rate,
        "ss_text_encoder_lr": (plan.text_encoder_lr or plan.learning_rate) if plan.train_text_encoder else None,
        "ss_network_train_unet_only": not plan.train_text_encoder,
        "ss_lr_scheduler": plan.lr_scheduler,
        "ss_lr_warmup_steps": plan.lr_warmup_steps,
        "ss_optimizer": "bitsandbytes.optim.AdamW8bit" if plan.optimizer == "adamw8bit" else "torch.optim.AdamW",
        "ss_max_train_steps": plan.steps,
        "ss_batch_size_per_device": plan.batch,
        "ss_gradient_accumulation_steps": plan.gradient_accumulation_steps,
        "ss_gradient_checkpointing": plan.gradient_checkpointing,
        "ss_mixed_precision": plan.mixed_precision,
        "ss_max_grad_norm": plan.max_grad_norm,
        "ss_min_snr_gamma": plan.min_snr_gamma,
        "ss_noise_offset": plan.noise_offset or None,
        "ss_seed": plan.seed,
        "ss_resolution": f"({plan.resolution}, {plan.resolution})",
        "ss_enable_bucket": True,
        "ss_cache_latents": True,  # always: latents are cached on disk by content hash
        "ss_shuffle_caption": plan.shuffle_tags,
        "ss_keep_tokens": plan.keep_tokens,
        "ss_caption_dropout_rate": plan.caption_dropout,
        "ss_output_name": plan.name,
        "ss_tag_frequency": json.dumps(tag_frequency),
        "ss_dataset_dirs": json.dumps(dataset_dirs),
        "sfumato_training_plan": plan.dumps(),
        **extra,
    }
    # kohya writes every value as a string, None as "None".
    return {key: _kohya_str(value) for key, value in values.items()}


def _kohya_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)
