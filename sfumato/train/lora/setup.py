"""Set a pipeline up for training: frozen base weights and peft adapters added the way diffusers' own
train_text_to_image_lora scripts add them (or, for a full fine-tune, the UNet's own weights trainable), AdamW,
a diffusers LR scheduler and an accelerate Accelerator.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import torch
from accelerate import Accelerator
from diffusers.optimization import get_scheduler
from diffusers.training_utils import cast_training_params
from peft import LoraConfig, inject_adapter_in_model

from sfumato.errors import BadInput
from sfumato.train.lora.conditioning import text_models
from sfumato.train.lora.plan import TrainingPlan

WEIGHT_DTYPES: Final[Mapping[str, torch.dtype]] = MappingProxyType({"no": torch.float32, "fp16": torch.float16,
                                                                    "bf16": torch.bfloat16})


@dataclass(frozen=True)
class Setup:
    accelerator: Accelerator
    models: Mapping[str, torch.nn.Module]  # what trains: "unet", and "text_encoder"(_2) when asked
    optimizer: Any
    lr_scheduler: Any
    weight_dtype: torch.dtype
    sdxl: bool


def _lora_config(plan: TrainingPlan, targets: tuple[str, ...]) -> LoraConfig:
    # "gaussian" init: lora_A ~ N(0, 1/r), lora_B = 0, so training starts from the base model's output.
    # peft types lora_alpha as int but computes alpha / r in floats; kohya's alphas are often fractional.
    return LoraConfig(r=plan.rank, lora_alpha=plan.alpha, init_lora_weights="gaussian",  # type: ignore[arg-type]
                      target_modules=list(targets))


def add_adapters(pipe: Any, plan: TrainingPlan) -> dict[str, torch.nn.Module]:
    """Freeze every weight, then add the LoRA layers (initialised from the plan's seed)."""
    for name in ("unet", "vae", *text_models(pipe).names):
        getattr(pipe, name).requires_grad_(False)
    models: dict[str, torch.nn.Module] = {"unet": pipe.unet}
    # fork_rng: the adapters' initial weights depend on the seed only; the caller's RNG stays untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)
        pipe.unet.add_adapter(_lora_config(plan, plan.unet_target_modules))
        if plan.train_text_encoder:
            for name in text_models(pipe).names:
                # peft directly: transformers' add_adapter demands a newer peft than the one installed (0.21).
                inject_adapter_in_model(_lora_config(plan, plan.text_target_modules), getattr(pipe, name))
                models[name] = getattr(pipe, name)
    return models


def unfreeze(pipe: Any, plan: TrainingPlan) -> dict[str, torch.nn.Module]:
    """A full fine-tune (DreamBooth's original form): every UNet weight trains, the text encoders' when asked."""
    for name in ("vae", *text_models(pipe).names):
        getattr(pipe, name).requires_grad_(False)
    models: dict[str, torch.nn.Module] = {"unet": pipe.unet.requires_grad_(True)}
    if plan.train_text_encoder:
        models |= {name: getattr(pipe, name).requires_grad_(True) for name in text_models(pipe).names}
    return models


# TrainingPlan.output -> what becomes trainable.
TRAINABLE: Final[Mapping[str, Callable[[Any, TrainingPlan], dict[str, torch.nn.Module]]]] = MappingProxyType({
    "lora": add_adapters, "full": unfreeze,
})


def _optimizer_class(plan: TrainingPlan, device: torch.device) -> Any:
    if plan.optimizer == "adamw":
        return torch.optim.AdamW
    # bitsandbytes' 8-bit AdamW needs its package and a CUDA device; refuse rather than silently train another way.
    if importlib.util.find_spec("bitsandbytes") is None or device.type != "cuda":
        raise BadInput(f"optimizer: 'adamw8bit' needs the bitsandbytes package and a CUDA device; here "
                       f"bitsandbytes is {'missing' if importlib.util.find_spec('bitsandbytes') is None else 'present'}"
                       f" and the device is {device.type!r}", hint="use --optimizer adamw")
    import bitsandbytes

    return bitsandbytes.optim.AdamW8bit


def place(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    # Cast only when needed: diffusers warns on every dtype cast through .to(), even a no-op one.
    model.to(device)
    if next(model.parameters()).dtype != dtype:
        model.to(dtype)


def prepare(pipe: Any, plan: TrainingPlan, *, cpu: bool = False) -> Setup:
    """Adapters, optimizer and LR schedule, wrapped by an Accelerator (one process or several GPUs)."""
    if plan.mixed_precision == "fp16" and (cpu or not torch.cuda.is_available()):
        raise BadInput("mixed_precision: 'fp16' needs a CUDA device; got none", hint="use bf16 or no")
    accelerator = Accelerator(mixed_precision=plan.mixed_precision, cpu=cpu,
                              gradient_accumulation_steps=plan.gradient_accumulation_steps)
    weight_dtype = WEIGHT_DTYPES[plan.mixed_precision]
    models = TRAINABLE[plan.output](pipe, plan)
    sdxl = text_models(pipe).is_sdxl
    # Frozen weights in the training dtype to save memory; the VAE stays fp32 (SDXL's overflows in fp16). A full
    # fine-tune keeps everything fp32: its file holds every weight, which a round trip through fp16 would blur.
    frozen_dtype = weight_dtype if plan.output == "lora" else torch.float32
    for name in ("unet", *text_models(pipe).names):
        place(getattr(pipe, name), accelerator.device, frozen_dtype)
    place(pipe.vae, accelerator.device, torch.float32)
    cast_training_params(list(models.values()), dtype=torch.float32)  # trained weights stay fp32
    if plan.gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        for name in models:
            if name != "unet":  # transformers 5 renamed gradient_checkpointing_enable
                model: Any = models[name]
                enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
                enable()
    groups = [{"params": [p for p in model.parameters() if p.requires_grad],
               "lr": plan.learning_rate if name == "unet" else (plan.text_encoder_lr or plan.learning_rate)}
              for name, model in models.items()]
    optimizer = _optimizer_class(plan, accelerator.device)(groups, lr=plan.learning_rate,
                                                           weight_decay=plan.weight_decay)
    # accelerate steps a prepared scheduler once per process per step, hence the scaling (as diffusers' scripts).
    lr_scheduler = get_scheduler(plan.lr_scheduler, optimizer=optimizer,
                                 num_warmup_steps=plan.lr_warmup_steps * accelerator.num_processes,
                                 num_training_steps=plan.steps * accelerator.num_processes)
    prepared = accelerator.prepare(*models.values(), optimizer, lr_scheduler)
    wrapped = dict(zip(models, prepared[:len(models)], strict=True))
    return Setup(accelerator, wrapped, prepared[-2], prepared[-1], weight_dtype, sdxl)
