"""Fuse LoRAs into a model for good: diffusers' fuse_lora, then a new model file in the library's checkpoint folder.

The result is an ordinary model: identified from its tensors, loadable like any other, and its pictures equal
(to float tolerance) the unfused model's with the same LoRAs at the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from sfumato.engine.devices import DevicePlan
from sfumato.engine.lora import UNET_ONLY, LoadedLoras, apply_loras, resolve_loras
from sfumato.engine.model_cache import load_model
from sfumato.errors import BadInput, UnknownArchitecture
from sfumato.models.library import ModelKind, ModelLibrary
from sfumato.models.model_file import save_model
from sfumato.recipe import AdapterRef, recipe_from


def fuse_loras(library: ModelLibrary, model: str, loras: Sequence[tuple[str, float]], *, name: str) -> Path:
    """Write `model` with `loras` (name, weight) fused in as `<checkpoints>/<name>.safetensors`; returns its path.

    Raises ModelNotFound / RecipeError as generating with those LoRAs would, BadInput when `name` is taken.
    """
    entry = library.hashed(library.find(model, with_hashes=False))
    if entry.family is None:
        raise UnknownArchitecture(f"model {model!r} cannot be loaded: {entry.error}")
    dest = library.folders(ModelKind.CHECKPOINT)[0] / f"{name}.safetensors"
    if dest.exists() or any(e.name == name for e in library.scan(ModelKind.CHECKPOINT)):
        raise BadInput(f"--name: a model named {name!r} already exists ({dest}); choose another name")
    adapters = tuple(AdapterRef(name=lora, weight=weight) for lora, weight in loras)
    recipe = recipe_from({"model": entry.name, "adapters": adapters})
    files, _ = resolve_loras(recipe, library, entry.family)
    # fp32 on the CPU: fusing adds small products to every weight, which fp16 would round away.
    pipe = load_model(entry, DevicePlan(device=torch.device("cpu"), dtype=torch.float32))
    apply_loras(pipe, LoadedLoras(), files, family=entry.family)
    components = ["unet"] if entry.family in UNET_ONLY else None  # None: every component the LoRAs touch
    pipe.fuse_lora(adapter_names=[f.adapter_name for f in files],
                   **({"components": components} if components else {}))
    pipe.unload_lora_weights()  # the LoRA layers go; the fused base weights stay
    # What went into the fused model; save_model stores it as the file's `sfumato_fused` metadata.
    record = {
        "base": entry.name, "base_sha256": entry.hashes.sha256 if entry.hashes else None,
        "loras": [{"name": f.name, "weight": f.weight, "file": f.path.name} for f in files],
    }
    return save_model(pipe, entry.family, dest, source=entry.path, records={"fused": record})
