"""img2img and inpainting passes: diffusers' Img2Img / Inpaint pipelines built from the loaded one (`from_pipe`).

`sample()` replaces the text-to-image call of one batch: it returns latents (B, C, H/f, W/f) made from the
prompt alone, from an init image, or from an init image and a mask, then runs the hires-fix pass if asked
(engine/hires.py). Inpainting checkpoints (9-channel UNets) always go through the inpaint pipeline, as A1111
runs them: a white mask over a grey picture for text-to-image, a white mask over the init image for img2img.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
from PIL import Image

from sfumato.engine.image_noise import noise_swap, sub_generators, swapped_add_noise, varied_init_latents
from sfumato.engine.image_prep import PreparedImages
from sfumato.engine.noise import has_variation, resized_from
from sfumato.errors import RecipeError
from sfumato.recipe import Recipe

TASK_PIPELINES: Final[Mapping[str, Any]] = MappingProxyType({
    "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting,
})
INPAINT_UNET_CHANNELS: Final = 9  # 4 noisy latents + 4 masked-picture latents + 1 mask
_GREY: Final = (127, 127, 127)  # A1111's picture for text-to-image on inpainting models: zeros in [-1, 1]

# A1111's "latent noise" / "latent nothing": what the masked area of the starting latents becomes.
_LATENT_STARTS: Final[Mapping[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]]] = MappingProxyType({
    "latent noise": lambda latents, g: torch.randn(latents.shape, generator=g, dtype=latents.dtype).to(latents.device),
    "latent nothing": lambda latents, g: torch.zeros_like(latents),
})


def task_pipeline(pipe: Any, task: str) -> Any:
    """The loaded pipeline as its `task` variant, sharing every component (no weights are copied)."""
    derived = TASK_PIPELINES[task].from_pipe(pipe)
    derived.set_progress_bar_config(disable=True)
    return derived


def call_pipeline(pipe: Any, arguments: Mapping[str, Any]) -> torch.Tensor:
    """Call `pipe` with `arguments`, less width/height where the image sets the size (the img2img pipelines)."""
    accepted = inspect.signature(pipe.__call__).parameters
    # Only the size may be left out: any other keyword the pipeline lacks must fail loudly, not be dropped.
    dropped = {key for key in ("width", "height") if key not in accepted}
    latents: torch.Tensor = pipe(**{k: v for k, v in arguments.items() if k not in dropped}).images
    return latents  # (B, C, H/f, W/f): output_type is "latent"


def denoised_steps(steps: int, strength: float) -> int:
    """Steps img2img actually runs: diffusers and A1111 both skip the first (1 - strength) of the schedule."""
    return min(int(steps * strength), steps)


def encode(pipe: Any, image: Image.Image | torch.Tensor) -> torch.Tensor:
    """VAE latents (1, C, H/f, W/f) of a picture, at the distribution's mode (no sampling noise)."""
    pixels = image if isinstance(image, torch.Tensor) else pipe.image_processor.preprocess(image)
    pixels = pixels.to(device=pipe.vae.device, dtype=pipe.vae.dtype)
    latents = retrieve_latents(pipe.vae.encode(pixels), sample_mode="argmax")
    return latents * pipe.vae.config.scaling_factor


def sample(pipe: Any, arguments: dict[str, Any], recipe: Recipe, prepared: PreparedImages | None,
           subseeds: Sequence[int | None] = ()) -> torch.Tensor:
    """Latents of one batch: text-to-image, img2img or inpainting on `pipe` (the loaded, scheduler-set pipeline).

    `arguments` holds "latents" when the batch has a variation (the whole start noise, engine/noise.py);
    `subseeds` are the batch's variation seeds, for the noise img2img and inpainting add to the init image.
    """
    is_inpaint_model = pipe.unet.config.in_channels == INPAINT_UNET_CHANNELS
    if prepared is None and not is_inpaint_model:
        return call_pipeline(pipe, arguments)
    width, height = arguments["width"], arguments["height"]
    if prepared is None:  # text-to-image on an inpainting checkpoint
        prepared = PreparedImages(Image.new("RGB", (width, height), _GREY), None, None, None, None)
        strength = 1.0
    else:
        strength = _strength(recipe)
    mask = prepared.mask
    if mask is None and is_inpaint_model:
        mask = Image.new("L", (width, height), 255)
    if mask is None and strength >= 1.0 and "image" not in inspect.signature(pipe.__call__).parameters:
        # Strength 1 starts from pure noise, as the inpaint pipeline does: the init image has no say at all
        # (diffusers' img2img would still mix in sqrt(alpha_bar_T) ~ 7% of it).
        return call_pipeline(pipe, arguments)
    generators: list[torch.Generator] = arguments["generator"]
    batch = len(generators)
    if denoised_steps(recipe.steps, strength) < 1:
        # Nothing to denoise (strength 0, or too few steps): the init picture through the VAE, as A1111 gives it.
        return encode(pipe, prepared.init).repeat(batch, 1, 1, 1)
    task_arguments = {**arguments, "strength": strength, **_image_arguments(pipe, recipe, prepared, mask, generators)}
    task = "img2img" if mask is None else "inpaint"
    derived = task_pipeline(pipe, task)
    if strength >= 1.0:
        return call_pipeline(derived, task_arguments)  # "latents" (if any) is the whole start noise
    # Below strength 1 the pipeline adds noise to the init latents itself: "latents" would replace the picture.
    task_arguments.pop("latents", None)
    if not has_variation(recipe) and resized_from(recipe, pipe) is None:
        return call_pipeline(derived, task_arguments)
    return _varied(derived, recipe, task_arguments, subseeds)


def _varied(derived: Any, recipe: Recipe, arguments: dict[str, Any], subseeds: Sequence[int | None]) -> torch.Tensor:
    """img2img / inpainting with a variation or a seed resize: the noise added to the init latents is swapped
    (engine/image_noise.py)."""
    generators: list[torch.Generator] = arguments["generator"]
    subs = sub_generators(generators, subseeds)
    image = arguments["image"]
    if has_variation(recipe) and "mask_image" not in arguments and isinstance(image, Image.Image):
        arguments["image"] = varied_init_latents(derived, image, generators, subs, recipe.subseed_strength)
    swap = noise_swap(derived, recipe, generators, subs, (arguments["width"], arguments["height"]))
    with swapped_add_noise(derived.scheduler, swap):
        return call_pipeline(derived, arguments)


def refine_arguments(pipe: Any, image: Image.Image | list[Image.Image] | torch.Tensor) -> dict[str, Any]:
    """Keywords and task for an img2img pass over a whole picture, on plain or inpainting checkpoints alike."""
    if pipe.unet.config.in_channels != INPAINT_UNET_CHANNELS:
        return {"task": "img2img", "image": image}
    # An inpainting UNet also takes a mask and the masked picture: all masked, so the masked picture is empty.
    height, width = _pixel_size(pipe, image)
    blank = encode(pipe, torch.zeros(1, 3, height, width))
    return {"task": "inpaint", "image": image, "mask_image": Image.new("L", (width, height), 255),
            "masked_image_latents": blank}


def _pixel_size(pipe: Any, image: Image.Image | list[Image.Image] | torch.Tensor) -> tuple[int, int]:
    if isinstance(image, torch.Tensor):
        return image.shape[-2] * pipe.vae_scale_factor, image.shape[-1] * pipe.vae_scale_factor
    first = image[0] if isinstance(image, list) else image
    return first.height, first.width


def _strength(recipe: Recipe) -> float:
    if recipe.denoising_strength is None:
        raise RecipeError("denoising_strength: an init image needs a denoising strength from 0 to 1, got None",
                          field="denoising_strength")
    return recipe.denoising_strength


def _image_arguments(pipe: Any, recipe: Recipe, prepared: PreparedImages, mask: Image.Image | None,
                     generators: list[torch.Generator]) -> dict[str, Any]:
    """`image` (pixels or latents) and, for inpainting, `mask_image` and `masked_image_latents`."""
    if mask is None:
        if recipe.resize_mode == "latent upscale":
            return {"image": _latent_upscaled(pipe, prepared.init, recipe)}
        return {"image": prepared.init}
    builder = _LATENT_STARTS.get(recipe.masked_content) if prepared.mask is not None else None
    if builder is None:
        return {"image": prepared.init, "mask_image": mask}
    # A1111's "latent noise" / "latent nothing": the masked area of the starting latents is noise or zeros.
    latents = encode(pipe, prepared.init)  # (1, C, h, w)
    latent_mask = _latent_mask(mask, latents)  # (1, 1, h, w), 1 = regenerate
    start = torch.cat([latents * (1 - latent_mask) + builder(latents, g) * latent_mask
                       for g in generators])  # (B, C, h, w)
    pixels = pipe.image_processor.preprocess(prepared.init)  # (1, 3, H, W) in [-1, 1]
    pixel_mask = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None]  # (1, 1, H, W)
    masked = encode(pipe, pixels * (pixel_mask < 0.5))  # the pipeline's masked picture, as latents
    return {"image": start, "mask_image": mask, "masked_image_latents": masked}


def _latent_mask(mask: Image.Image, latents: torch.Tensor) -> torch.Tensor:
    small = np.asarray(mask.resize((latents.shape[-1], latents.shape[-2]), Image.Resampling.BILINEAR))
    binary = torch.from_numpy((small >= 128).astype(np.float32))[None, None]  # A1111 rounds the latent mask
    return binary.to(device=latents.device, dtype=latents.dtype)


def _latent_upscaled(pipe: Any, image: Image.Image, recipe: Recipe) -> torch.Tensor:
    """A1111's "just resize (latent upscale)": encode at the picture's own size, resize the latents."""
    factor = pipe.vae_scale_factor
    snapped = image.crop((0, 0, max(factor, image.width // 8 * 8), max(factor, image.height // 8 * 8)))
    latents = encode(pipe, snapped)
    size = (recipe.height // factor, recipe.width // factor)
    return torch.nn.functional.interpolate(latents, size=size, mode="bilinear", antialias=True)
