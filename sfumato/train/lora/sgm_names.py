"""SDXL UNet module names as kohya writes them: the original (SGM) `input_blocks.N.1` / `middle_block.1` /
`output_blocks.N.1` numbering for the attention blocks LoRA trains, instead of diffusers' `down_blocks.i.attentions.j`.

kohya trains SDXL on the SGM-layout UNet, so its SDXL LoRAs (and tools reading them) use these names; diffusers,
A1111 and ComfyUI map them back. In SGM each level holds `layers + 1` numbered entries (the layers, then the
downsampler; up levels: layers + 1 with the upsampler inside the last), and input block 0 is conv_in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

_PATTERNS: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str], Sequence[int]], str]], ...]] = (
    (re.compile(r"^down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$"),
     lambda m, layers: f"input_blocks.{1 + _offset(int(m[1]), layers) + int(m[2])}.1.{m[3]}"),
    (re.compile(r"^mid_block\.attentions\.0\.(.+)$"), lambda m, layers: f"middle_block.1.{m[1]}"),
    (re.compile(r"^up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$"),
     lambda m, layers: f"output_blocks.{_offset(int(m[1]), layers[::-1]) + int(m[2])}.1.{m[3]}"),
)


def _offset(level: int, layers: Sequence[int]) -> int:
    """Entries before `level`: layers + 1 per level (down: layers and a downsampler; up: layers + 1)."""
    return sum(n + 1 for n in layers[:level])


def sgm_module_name(diffusers_name: str, layers_per_block: int | Sequence[int], levels: int) -> str:
    """The SGM name of a UNet module inside an attention block; other modules keep their diffusers name
    (which diffusers and ComfyUI also read)."""
    layers = [layers_per_block] * levels if isinstance(layers_per_block, int) else list(layers_per_block)
    for pattern, rename in _PATTERNS:
        match = pattern.match(diffusers_name)
        if match is not None:
            return rename(match, layers)
    return diffusers_name
