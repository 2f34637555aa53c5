"""A1111 infotext keys of img2img, inpainting, outpainting and hires fix (issue #7) <-> Recipe fields.

A1111's Mask mode, Mask blur, Inpaint area, Masked area padding, Masked content, Hires upscale / resize / steps /
upscaler / sampler / schedule type / prompt / negative prompt, and sfumato's Resize mode; `sfumato.infotext`
writes and reads them in their place among the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from sfumato.recipe import Recipe

# A1111's own pattern (modules/infotext_utils.py), kept verbatim so other tools' text parses the same.
RE_IMAGESIZE: Final = re.compile(r"^(\d+)x(\d+)$")

# img2img, inpainting and hires fix (issue #7): A1111's keys (Mask blur, Inpaint area, Masked area padding,
# Masked content, Mask mode, Hires upscale/resize/steps/upscaler/sampler/...) and sfumato's `Resize mode`. Each
# is written when the feature is on (as A1111 does) or when its value is not the default, so every Recipe
# round-trips.
IMAGE_FIELD_KEYS: Final[Mapping[str, str]] = MappingProxyType({
    "Resize mode": "resize_mode", "Mask blur": "mask_blur", "Masked area padding": "inpaint_padding",
    "Masked content": "masked_content", "Hires upscale": "hires_scale", "Hires steps": "hires_steps",
    "Hires upscaler": "hires_upscaler", "Hires sampler": "hires_sampler",
    "Hires schedule type": "hires_schedule_type", "Hires prompt": "hires_prompt",
    "Hires negative prompt": "hires_negative_prompt",
})
# What A1111 fills in for a hires key it did not write (infotext_utils' defaults): the first pass's value, None here.
HIRES_SAME_AS_FIRST: Final = frozenset({"Use same sampler", "Use same scheduler", ""})
# A1111 hires key sfumato keeps in `extra` (the engine refuses another checkpoint); written in A1111's slot, ahead
# of the modelled hires keys.
HIRES_EXTRA_KEYS: Final = ("Hires checkpoint",)
INPAINT_AREAS: Final[Mapping[str, str]] = MappingProxyType({"Whole picture": "whole picture",
                                                            "Only masked": "only masked"})
MASK_MODES: Final[Mapping[str, bool]] = MappingProxyType({"Inpaint masked": False, "Inpaint not masked": True})


def image_values(recipe: Recipe) -> dict[str, str | None]:
    """img2img / inpainting / hires keys (issue #7), in A1111's order; defaults left out unless the feature is on."""
    defaults, masked, hires = Recipe.model_fields, recipe.mask_hash is not None, recipe.hires_upscaler is not None
    only_masked = recipe.inpaint_area == "only masked"

    def changed(field: str) -> bool:
        return bool(getattr(recipe, field) != defaults[field].default)

    resize = f"{recipe.hires_width}x{recipe.hires_height}"
    has_resize = recipe.hires_width > 0 or recipe.hires_height > 0
    return {
        "Resize mode": recipe.resize_mode if changed("resize_mode") else None,
        "Mask mode": "Inpaint not masked" if recipe.invert_mask else None,
        "Mask blur": str(recipe.mask_blur) if (masked and recipe.mask_blur > 0) or changed("mask_blur") else None,
        "Inpaint area": "Only masked" if only_masked else None,
        "Masked area padding": str(recipe.inpaint_padding) if only_masked or changed("inpaint_padding") else None,
        "Masked content": recipe.masked_content if changed("masked_content") else None,
        # A1111 writes these only when they differ from the first pass's; sfumato whenever they are set.
        "Hires sampler": recipe.hires_sampler,
        "Hires prompt": recipe.hires_prompt,
        "Hires negative prompt": recipe.hires_negative_prompt,
        "Hires schedule type": recipe.hires_schedule_type,
        "Hires upscale": str(recipe.hires_scale) if (hires and not has_resize) or changed("hires_scale") else None,
        "Hires resize": resize if has_resize else None,
        "Hires steps": str(recipe.hires_steps) if recipe.hires_steps else None,
        "Hires upscaler": recipe.hires_upscaler,
    }


def read_image_key(key: str, value: str, data: dict[str, Any]) -> bool:
    """Read one img2img / inpainting / hires key into `data`; False when `key` is not one of them."""
    if key in IMAGE_FIELD_KEYS:
        if not (key.startswith("Hires ") and value in HIRES_SAME_AS_FIRST):
            data[IMAGE_FIELD_KEYS[key]] = value
    elif key == "Inpaint area" and value in INPAINT_AREAS:
        data["inpaint_area"] = INPAINT_AREAS[value]
    elif key == "Mask mode" and value in MASK_MODES:
        data["invert_mask"] = MASK_MODES[value]
    elif key == "Hires resize" and (size := RE_IMAGESIZE.match(value)) is not None:
        data["hires_width"], data["hires_height"] = size[1], size[2]
    else:
        return False
    return True
