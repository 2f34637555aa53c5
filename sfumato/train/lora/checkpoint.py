"""LoRA run checkpoints: adapter weights (a full fine-tune's: every trained weight), optimizer slots and the RNG
in safetensors; step, optimizer groups and LR-scheduler state in JSON. Reuses the embedded model's optimizer
(de)serialisation, so a resumed run continues exactly (tests/train/test_lora_training.py checks resumed ==
uninterrupted).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sfumato.errors import BadInput
from sfumato.train.base.checkpoint import (
    CheckpointPaths,
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    write_checkpoint,
)


def trainable(models: Mapping[str, torch.nn.Module]) -> dict[str, torch.nn.Parameter]:
    """Every parameter that trains, as 'component.param.path'."""
    return {f"{component}.{name}": p for component, model in models.items()
            for name, p in model.named_parameters() if p.requires_grad}


def save_lora_checkpoint(paths: CheckpointPaths, *, models: Mapping[str, torch.nn.Module], optimizer: Any,
                         lr_scheduler: Any, generator: torch.Generator, step: int) -> None:
    tensors = {f"lora.{k}": v.detach().cpu().contiguous() for k, v in trainable(models).items()}
    optimizer_state = optimizer.state_dict()
    tensors |= optimizer_tensors(optimizer_state)
    tensors["rng"] = generator.get_state()
    write_checkpoint(paths, tensors, {"step": step, "param_groups": optimizer_state["param_groups"],
                                      "lr_scheduler": lr_scheduler.state_dict()})


def load_lora_checkpoint(paths: CheckpointPaths, *, models: Mapping[str, torch.nn.Module], optimizer: Any,
                         lr_scheduler: Any, generator: torch.Generator) -> int:
    """Restore everything in place; returns the step the checkpoint was taken at."""
    state, tensors = read_checkpoint(paths, hint="delete both files to restart the run")
    params = trainable(models)
    missing = sorted(set(params) - {k[5:] for k in tensors if k.startswith("lora.")})
    if missing:
        raise BadInput(f"checkpoint: {paths.tensors.name} lacks {len(missing)} trained weights of this plan "
                       f"(first: {missing[0]}); was it made with another rank, target modules or output?")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(tensors[f"lora.{name}"])
    device = next(iter(params.values())).device
    restore_optimizer(optimizer, tensors, state["param_groups"], device=device)
    lr_scheduler.load_state_dict(state["lr_scheduler"])
    generator.set_state(tensors["rng"])
    return int(state["step"])


def checkpoint_paths(run: Path) -> CheckpointPaths:
    return CheckpointPaths.of(run, "lora")
