"""Catalog fixtures: a catalog on tmp_path and Pictures built from PIL images and recipes (no model)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sfumato.catalog import Catalog
from sfumato.picture import BatchPosition, Picture
from sfumato.recipe import recipe_from

MakePicture = Callable[..., Picture]


def make_picture(prompt: str = "an otter", **fields: Any) -> Picture:
    recipe = recipe_from({"prompt": prompt, "width": 64, "height": 64, **fields})
    color = (recipe.seed % 256, len(prompt) % 256, 128)
    return Picture(Image.new("RGB", (64, 64), color), recipe, BatchPosition(recipe.seed, 1, 0))


@pytest.fixture
def picture() -> MakePicture:
    return make_picture


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return tmp_path / "library"


@pytest.fixture
def catalog(library: Path) -> Iterator[Catalog]:
    opened = Catalog.open(library)
    yield opened
    opened.close()
