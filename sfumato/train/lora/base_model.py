"""Load a library model as a trainable pipeline in fp32 (the built-in tiny model is built from its seed)."""

from __future__ import annotations

from typing import Any

import torch

from sfumato.models.families import Family
from sfumato.models.identify import identify
from sfumato.models.library import ModelEntry
from sfumato.models.loading import load_pipeline
from sfumato.models.tiny import build_tiny_pipeline


def load_base(entry: ModelEntry) -> Any:
    if entry.path is None:  # the built-in sfumato-tiny
        return build_tiny_pipeline(Family.SFUMATO_TINY, seed=0)
    return load_pipeline(entry.path, identify(entry.path), torch_dtype=torch.float32)
