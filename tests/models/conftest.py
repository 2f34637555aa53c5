"""Shared fixtures for tests/models: tiny real pipelines of every family, saved once per session in both layouts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from diffusers import DiffusionPipeline

from sfumato.models.families import Family
from sfumato.models.ldm_layout import save_single_file
from sfumato.models.tiny import build_tiny_pipeline


@dataclass(frozen=True)
class SavedTiny:
    family: Family
    pipe: DiffusionPipeline
    folder: Path  # diffusers layout (save_pretrained)
    single_file: Path  # original layout with sfumato_config metadata


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    # Several helpers share 2 cores; spinning OpenMP threads make tiny models 10x slower.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def saved_tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Family], SavedTiny]:
    """Family -> its tiny pipeline saved as a folder and a single file (built on first use, then reused)."""
    cache: dict[Family, SavedTiny] = {}

    def get(family: Family) -> SavedTiny:
        if family not in cache:
            root = tmp_path_factory.mktemp(f"tiny-{family.value}")
            pipe = build_tiny_pipeline(family)
            # Neutral names: identification must come from the tensors and configs, not from "turbo" in a name.
            pipe.save_pretrained(root / "pipeline")
            single = save_single_file(pipe, family, root / "model.safetensors")
            cache[family] = SavedTiny(family, pipe, root / "pipeline", single)
        return cache[family]

    return get
