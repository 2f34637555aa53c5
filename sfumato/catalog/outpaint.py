"""Outpainting canvases: a picture extended left/right/up/down, with the mask that marks the new margins.

An outpainting is an inpainting whose init image is the padded canvas: the margins start as the picture's edge
pixels stretched outward (A1111's "fill" masked content then blurs them into colour), and the mask is white
over the margins only, so paste-back keeps the original picture where the mask blur does not reach.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from PIL import Image

from sfumato.errors import BadInput

SIDES: Final = ("left", "right", "up", "down")
_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"top": "up", "bottom": "down"})
_ENTRY: Final = re.compile(r"^\s*([a-z]+)\s*=\s*(\d+)\s*$")
MAX_MARGIN: Final = 4096


@dataclass(frozen=True)
class Outpaint:
    """Pixels to add on each side."""

    left: int = 0
    right: int = 0
    up: int = 0
    down: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.left or self.right or self.up or self.down)


def parse_outpaint(text: str) -> Outpaint:
    """`left=64,down=32` -> Outpaint; each side at most once, a multiple of 8 so the canvas stays one."""
    amounts: dict[str, int] = {}
    for entry in text.split(","):
        match = _ENTRY.match(entry.lower())
        side = _ALIASES.get(match[1], match[1]) if match else None
        if match is None or side not in SIDES or side in amounts:
            raise BadInput(f"--outpaint: each entry must be SIDE=PIXELS with SIDE one of {', '.join(SIDES)} "
                           f"(once each), e.g. 'left=64,down=32'; got {entry.strip()!r}")
        pixels = int(match[2])
        if pixels % 8 or pixels > MAX_MARGIN:
            raise BadInput(f"--outpaint: {side} must be a multiple of 8 up to {MAX_MARGIN} pixels, got {pixels}")
        amounts[side] = pixels
    return Outpaint(**amounts)


def outpaint_canvas(image: Image.Image, margins: Outpaint) -> tuple[Image.Image, Image.Image]:
    """(canvas, mask): the picture padded with its own edge pixels, and white over the added margins."""
    pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
    padded = np.pad(pixels, ((margins.up, margins.down), (margins.left, margins.right), (0, 0)), mode="edge")
    mask = np.full(padded.shape[:2], 255, dtype=np.uint8)
    mask[margins.up:margins.up + pixels.shape[0], margins.left:margins.left + pixels.shape[1]] = 0
    return Image.fromarray(padded, "RGB"), Image.fromarray(mask, "L")
