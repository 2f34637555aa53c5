"""The engine's model cache: one loaded pipeline at a time; switching models frees the previous one first."""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from sfumato.engine.devices import DevicePlan, apply_plan
from sfumato.engine.lora import LoadedLoras
from sfumato.models.families import Family
from sfumato.models.library import ModelEntry


@dataclass
class LoadedModel:
    """A pipeline on its device, with the scheduler config it shipped with (samplers are built from it)."""

    entry: ModelEntry
    pipe: Any  # a diffusers DiffusionPipeline
    plan: DevicePlan
    base_scheduler_config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    load_seconds: float = 0.0
    loras: LoadedLoras = field(default_factory=LoadedLoras)  # LoRA files loaded into this pipeline

    @property
    def family(self) -> Family:
        assert self.entry.family is not None  # entries without a family are refused before loading
        return self.entry.family

    @property
    def vae_scale_factor(self) -> int:
        return int(getattr(self.pipe, "vae_scale_factor", 8))


def load_model(entry: ModelEntry, plan: DevicePlan) -> Any:
    """Build or load the diffusers pipeline for `entry` (offline), not yet placed on a device."""
    if entry.is_builtin:
        from sfumato.models.tiny import build_tiny_pipeline

        return build_tiny_pipeline(Family.SFUMATO_TINY, seed=0)
    from sfumato.models.identify import identify
    from sfumato.models.loading import load_pipeline

    assert entry.path is not None
    return load_pipeline(entry.path, identify(entry.path), torch_dtype=plan.dtype)


class ModelCache:
    """Holds at most one loaded model; only the engine's worker touches it."""

    def __init__(self) -> None:
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def get(self, entry: ModelEntry, plan: DevicePlan) -> LoadedModel:
        current = self._loaded
        if current is not None and current.entry.path == entry.path and current.entry.name == entry.name \
                and current.plan == plan and not current.loras.is_broken:
            return current
        self.clear()
        started = time.perf_counter()
        pipe = load_model(entry, plan)
        pipe.set_progress_bar_config(disable=True)
        base_config = MappingProxyType(dict(pipe.scheduler.config))
        apply_plan(pipe, plan)
        self._loaded = LoadedModel(entry, pipe, plan, base_config, time.perf_counter() - started)
        return self._loaded

    def clear(self) -> None:
        """Drop the loaded pipeline and give its memory back (CUDA caches included)."""
        self._loaded = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if torch.backends.mps.is_available():
            torch.mps.empty_cache()
