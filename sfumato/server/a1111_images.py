"""A1111 img2img and hires-fix translators: `/sdapi/v1/img2img`'s request model and the txt2img `enable_hr` fields
-> Recipe fields. Pure functions; the img2img route lives in `a1111_img2img_routes.py`.

A1111's API defaults are kept, including the ones that differ from its UI: `inpainting_fill` 0 is "fill",
`inpaint_full_res` true is "only masked", padding 0. Fields that would change the picture in a way sfumato
cannot (several init images, latent_mask, a noise multiplier, another hires checkpoint...) get a 422; the hires
pass's own sampler, schedule type and prompts are Recipe fields.
"""

from __future__ import annotations

from typing import Any, Final

from sfumato.errors import RecipeError
from sfumato.server.a1111 import Txt2ImgRequest

# A1111's enums by index (modules/img2img.py, modules/ui.py).
RESIZE_MODES: Final = ("just resize", "crop and resize", "resize and fill", "latent upscale")
INPAINTING_FILLS: Final = ("fill", "original", "latent noise", "latent nothing")
DEFAULT_HIRES_UPSCALER: Final = "Latent"  # A1111's hr_upscaler default (shared.latent_upscale_default_mode)
DEFAULT_HIRES_STRENGTH: Final = 0.7  # A1111's hires-fix UI default, for requests that leave it null


class Img2ImgRequest(Txt2ImgRequest):
    """A1111's StableDiffusionImg2ImgProcessingAPI: the txt2img fields plus the image ones, A1111's defaults."""

    denoising_strength: float | None = 0.75
    init_images: list[Any] | None = None
    resize_mode: int | None = 0
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int | None = 4
    mask_blur_y: int | None = 4
    mask_blur: int | None = None
    mask_round: bool | None = True
    inpainting_fill: int | None = 0
    inpaint_full_res: bool | None = True
    inpaint_full_res_padding: int | None = 0
    inpainting_mask_invert: int | None = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool | None = False


def _refuse(field: str, value: Any, rule: str) -> RecipeError:
    return RecipeError(f"{field}: {rule} (got {value!r})", field=field)


def _pick(field: str, table: tuple[str, ...], index: int | None) -> str:
    if index is None or not 0 <= index < len(table):
        raise _refuse(field, index, f"must be 0-{len(table) - 1} ({', '.join(table)})")
    return table[index]


def img2img_fields(request: Img2ImgRequest) -> dict[str, Any]:
    """Recipe fields for the image part of an img2img request (the images themselves are stored by the route)."""
    if len(request.init_images or []) > 1:
        raise _refuse("init_images", f"{len(request.init_images or [])} images", "one init image per request")
    for field in ("latent_mask", "enable_hr"):
        if getattr(request, field):
            raise _refuse(field, getattr(request, field), "not supported by sfumato's img2img; leave it unset")
    if request.initial_noise_multiplier not in (None, 1.0):
        raise _refuse("initial_noise_multiplier", request.initial_noise_multiplier, "only 1.0 is supported")
    blur_x, blur_y = (request.mask_blur, request.mask_blur) if request.mask_blur is not None else \
        (request.mask_blur_x, request.mask_blur_y)
    if blur_x != blur_y:
        raise _refuse("mask_blur_x", (blur_x, blur_y), "sfumato blurs masks evenly: mask_blur_x must equal mask_blur_y")
    return {
        "denoising_strength": request.denoising_strength if request.denoising_strength is not None else 0.75,
        "resize_mode": _pick("resize_mode", RESIZE_MODES, request.resize_mode),
        "mask_blur": blur_x if blur_x is not None else 4,
        "masked_content": _pick("inpainting_fill", INPAINTING_FILLS, request.inpainting_fill),
        "inpaint_area": "whole picture" if request.inpaint_full_res is False else "only masked",
        "inpaint_padding": request.inpaint_full_res_padding or 0,
        "invert_mask": bool(request.inpainting_mask_invert),
    }


def _own(value: str | None, *same: str | None) -> str | None:
    """A hires-pass value, None where it is A1111's way of saying "as the first pass"."""
    return None if value in (None, "", *same) else value


def hires_fields(request: Txt2ImgRequest) -> dict[str, Any]:
    """Recipe fields for txt2img's hires fix (`enable_hr` and the `hr_*` fields); none when it is off."""
    if not request.enable_hr:
        return {}
    if request.hr_checkpoint_name not in (None, "", "Use same checkpoint"):
        raise _refuse("hr_checkpoint_name", request.hr_checkpoint_name,
                      "the hires pass runs on the first pass's model in sfumato; leave it unset")
    upscaler = request.hr_upscaler or DEFAULT_HIRES_UPSCALER
    if upscaler not in (*LATENT_UPSCALE_MODES, *PIXEL_UPSCALERS):
        raise _refuse("hr_upscaler", upscaler, f"sfumato has no such upscaler (upscaler models are not supported); "
                                               f"allowed: {', '.join((*LATENT_UPSCALE_MODES, *PIXEL_UPSCALERS))}")
    return {
        "hires_upscaler": upscaler,
        "hires_scale": request.hr_scale if request.hr_scale is not None else 2.0,
        "hires_width": request.hr_resize_x or 0, "hires_height": request.hr_resize_y or 0,
        "hires_steps": request.hr_second_pass_steps or 0,
        # The hires pass's own sampler, schedule type and prompts; A1111's "same as the first pass" values are None.
        "hires_sampler": _own(request.hr_sampler_name, "Use same sampler", request.sampler_name),
        "hires_schedule_type": _own(request.hr_scheduler, "Use same scheduler", request.scheduler),
        "hires_prompt": _own(request.hr_prompt, request.prompt),
        "hires_negative_prompt": _own(request.hr_negative_prompt, request.negative_prompt),
        "denoising_strength": request.denoising_strength if request.denoising_strength is not None
        else DEFAULT_HIRES_STRENGTH,
    }


# Hires-fix upscalers sfumato has (engine/hires.py's table; a test keeps the two equal), as A1111 lists them.
LATENT_UPSCALE_MODES: Final = ("Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                               "Latent (nearest)", "Latent (nearest-exact)")
PIXEL_UPSCALERS: Final = ("None", "Lanczos", "Nearest")
