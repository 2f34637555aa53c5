"""Training checkpoints: model, EMA, AdamW state and RNG state in safetensors, the step and plan in JSON.

Everything a run needs to continue bit for bit: resuming at step k and training to n gives the same weights
as training to n at once (tests/train/test_base_training.py checks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput


@dataclass(frozen=True)
class CheckpointPaths:
    tensors: Path
    state: Path

    @classmethod
    def of(cls, run: Path, phase: str) -> CheckpointPaths:
        folder = run / "checkpoints"
        return cls(folder / f"{phase}.safetensors", folder / f"{phase}.json")

    def exists(self) -> bool:
        return self.tensors.is_file() and self.state.is_file()


def save_checkpoint(paths: CheckpointPaths, *, model: torch.nn.Module, ema: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, generator: torch.Generator, state: dict[str, Any]) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    tensors |= optimizer_tensors(optimizer_state)
    tensors["rng"] = generator.get_state()
    write_checkpoint(paths, tensors, {**state, "param_groups": optimizer_state["param_groups"]})


def load_checkpoint(paths: CheckpointPaths, *, model: torch.nn.Module, ema: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict[str, Any]:
    """Restore everything in place; returns the JSON state (step, phase, ...)."""
    state, tensors = read_checkpoint(paths, hint="delete both files to restart this phase")
    device = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, strict=True)
    restore_optimizer(optimizer, tensors, state.pop("param_groups"), device=device)
    generator.set_state(tensors["rng"])
    return state


def write_checkpoint(paths: CheckpointPaths, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Tensors first, then the JSON state; both carry the step, so read_checkpoint catches a crash between."""
    paths.tensors.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(paths.tensors, save(tensors, metadata={"step": str(state["step"])}))
    atomic_write_bytes(paths.state, json.dumps(state, indent=1, sort_keys=True).encode())


def read_checkpoint(paths: CheckpointPaths, *, hint: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The JSON state and the tensors of a checkpoint, refusing a pair whose steps differ."""
    state: dict[str, Any] = json.loads(paths.state.read_text(encoding="utf-8"))
    with safe_open(str(paths.tensors), framework="pt") as file:
        saved_step = (file.metadata() or {}).get("step")
    if saved_step != str(state.get("step")):
        raise BadInput(f"checkpoint: {paths.tensors.name} is from step {saved_step} but {paths.state.name} "
                       f"says {state.get('step')}; the run was interrupted while saving", hint=hint)
    return state, load_file(str(paths.tensors))


def optimizer_tensors(optimizer_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter slots as flat `optim.<index>.<slot>` tensors (its param_groups go to JSON)."""
    tensors = {}
    for index, slots in optimizer_state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{index}.{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors


def restore_optimizer(optimizer: Any, tensors: dict[str, torch.Tensor], param_groups: list[Any], *,
                      device: torch.device) -> None:
    """Load what `optimizer_tensors` wrote (plus the JSON param_groups) back into `optimizer`."""
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, slot = key.split(".", 2)
            # AdamW keeps `step` on the CPU and the moments beside their parameter.
            slots.setdefault(int(index), {})[slot] = value if slot == "step" else value.to(device)
    optimizer.load_state_dict({"state": slots, "param_groups": param_groups})
