"""`sfumato generate`'s img2img, inpainting, outpainting and hires-fix options -> Recipe fields.

The init image and mask are kept in the library (`.inputs/`, by hash) before the Recipe is built, so the
picture can be made again from its file. Without `--size`, an init image sets the size (snapped to 8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sfumato.catalog.inputs import decode_image, store_inputs
from sfumato.catalog.outpaint import parse_outpaint
from sfumato.errors import BadInput
from sfumato.studio import Studio

DEFAULT_STRENGTH: Final = 0.75  # A1111's img2img default
DEFAULT_HIRES_STRENGTH: Final = 0.7  # A1111's hires-fix default
DEFAULT_HIRES_UPSCALER: Final = "Latent"
# What people type -> Recipe value: A1111's labels and dashed CLI spellings both work.
_AREAS: Final[Mapping[str, str]] = MappingProxyType({
    "whole": "whole picture", "whole-picture": "whole picture", "whole picture": "whole picture",
    "only-masked": "only masked", "only masked": "only masked", "masked": "only masked",
})


@dataclass(frozen=True)
class ImageOptions:
    """The image options as typed on the command line (None = not given)."""

    init_image: Path | None = None
    strength: float | None = None
    mask: Path | None = None
    mask_blur: int | None = None
    inpaint_area: str | None = None
    padding: int | None = None
    masked_content: str | None = None
    invert_mask: bool = False
    resize_mode: str | None = None
    outpaint: str | None = None
    hires: bool = False
    hires_upscaler: str | None = None
    hires_scale: float | None = None
    hires_size: str | None = None
    hires_steps: int | None = None
    # The hires pass's own sampler, schedule type and prompts (A1111's Hires sampler / ...; None: the first pass's).
    hires_sampler: str | None = None
    hires_schedule: str | None = None
    hires_prompt: str | None = None
    hires_negative: str | None = None


def _read(path: Path, field: str) -> Any:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadInput(f"{field}: cannot read {path}: {error.strerror}") from error
    return decode_image(data, field=field)


def image_fields(studio: Studio, options: ImageOptions, *, size_given: bool) -> dict[str, Any]:
    """Recipe fields for the image options; keeps the init image and mask in the library."""
    fields: dict[str, Any] = {
        "mask_blur": options.mask_blur, "inpaint_padding": options.padding, "masked_content": options.masked_content,
        "invert_mask": options.invert_mask or None, "resize_mode": options.resize_mode,
        "inpaint_area": _AREAS.get(options.inpaint_area.lower(), options.inpaint_area) if options.inpaint_area
        else None,
    }
    if options.init_image is None:
        if options.mask is not None or options.outpaint is not None:
            raise BadInput("--mask and --outpaint need an --init-image to work on")
        fields["denoising_strength"] = options.strength
    else:
        margins = parse_outpaint(options.outpaint) if options.outpaint else None
        mask = _read(options.mask, "--mask") if options.mask is not None else None
        stored = store_inputs(studio.inputs, _read(options.init_image, "--init-image"), mask=mask, outpaint=margins)
        fields |= stored.fields()
        fields["denoising_strength"] = options.strength if options.strength is not None else DEFAULT_STRENGTH
        if not size_given:
            fields["width"], fields["height"] = stored.width, stored.height
        if margins is not None and options.masked_content is None:
            fields["masked_content"] = "fill"  # A1111's outpainting default: margins start from nearby colours
    return fields | hires_fields(options)


def _hires_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise BadInput(f"--hires-size must look like WIDTHxHEIGHT (0 for a side keeps the aspect), got {text!r}")
    return int(width), int(height)


def hires_fields(options: ImageOptions) -> dict[str, Any]:
    upscaler = options.hires_upscaler or (DEFAULT_HIRES_UPSCALER if options.hires else None)
    if upscaler is None:
        given = (options.hires_scale, options.hires_size, options.hires_steps, options.hires_sampler,
                 options.hires_schedule, options.hires_prompt, options.hires_negative)
        if any(value is not None for value in given):
            raise BadInput("--hires-scale, --hires-size, --hires-steps, --hires-sampler, --hires-schedule, "
                           "--hires-prompt and --hires-negative need --hires (or --hires-upscaler NAME)")
        return {}
    width, height = _hires_size(options.hires_size) if options.hires_size else (0, 0)
    return {
        "hires_upscaler": upscaler, "hires_scale": options.hires_scale, "hires_width": width, "hires_height": height,
        "hires_steps": options.hires_steps, "hires_sampler": options.hires_sampler,
        "hires_schedule_type": options.hires_schedule, "hires_prompt": options.hires_prompt,
        "hires_negative_prompt": options.hires_negative,
        "denoising_strength": options.strength if options.strength is not None else DEFAULT_HIRES_STRENGTH,
    }
