"""Picture: the pixels an engine made plus the Recipe that makes them again. Immutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from PIL import Image

from sfumato.recipe import Recipe


@dataclass(frozen=True)
class BatchPosition:
    """Where a picture sat in the batch that made it, so `again` can rerun that exact batch.

    Batched convolutions are not bit-identical to single ones on every backend, so exact
    reproduction reruns the whole batch: `seed` is the batch's first seed, `index` this picture's slot.
    """

    seed: int
    size: int
    index: int


@dataclass(frozen=True)
class Picture:
    """One generated image. `recipe` is picture-level: its seed is this image's seed, batch 1 x 1."""

    image: Image.Image
    recipe: Recipe
    batch: BatchPosition
    timings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()
