"""Initial noise for variations: A1111's variation seed (subseed) slerped into each picture's seed noise.

Without a variation (no subseed, or strength 0) the pipeline draws the noise itself from the per-picture
generators, as it always has. With one, each picture's noise is drawn here the way diffusers' `prepare_latents`
draws it (`randn_tensor`, shape (1, C, H/f, W/f), the pipeline's dtype, from that picture's own generator, which
the sampler then keeps using), the subseed's noise from a fresh generator, and the two are mixed with A1111's
`slerp` (modules/rng.py, `ImageRNG.first`). "Seed resize from" draws the seed (and subseed) noise at another
size and centres it over the picture's own noise, as A1111 does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor

from sfumato.recipe import Recipe

# A1111 falls back to a plain weighted sum when the two noises point (nearly) the same way: the angle's sine
# would then be too small to divide by (modules/rng.py).
_NEARLY_PARALLEL = 0.9995


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111's spherical interpolation of one picture's noise (C, H, W), angles taken along dim 1 (H).

    `val` 0 gives `low`, 1 gives `high`. The nearly-parallel fallback keeps A1111's weights as they are
    (`low * val + high * (1 - val)`), so pictures match A1111's in that (practically unreachable) case too.
    """
    low_unit = low / torch.norm(low, dim=1, keepdim=True)
    high_unit = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_unit * high_unit).sum(1)  # (C, W)
    if dot.mean() > _NEARLY_PARALLEL:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    sine = torch.sin(omega)
    low_weight = (torch.sin((1.0 - val) * omega) / sine).unsqueeze(1)  # (C, 1, W)
    high_weight = (torch.sin(val * omega) / sine).unsqueeze(1)
    return low_weight * low + high_weight * high


def latent_dtype(pipe: Any) -> torch.dtype:
    """The dtype a diffusers SD/SDXL pipeline draws its latents in: its prompt embeddings' dtype."""
    encoder = getattr(pipe, "text_encoder_2", None) or getattr(pipe, "text_encoder", None)
    return encoder.dtype if encoder is not None else pipe.unet.dtype  # type: ignore[no-any-return]


def draw_noise(pipe: Any, recipe: Recipe, generator: torch.Generator, *,
               size: tuple[int, int] | None = None) -> torch.Tensor:
    """One picture's noise exactly as the pipeline's `prepare_latents` would draw it: (1, C, H/f, W/f), for the
    recipe's size or `size` (width, height)."""
    factor = int(pipe.vae_scale_factor)
    width, height = size or (recipe.width, recipe.height)
    # The VAE's latent channels: the UNet's input for plain models, 4 of an inpainting UNet's 9 inputs.
    shape = (1, int(pipe.vae.config.latent_channels), height // factor, width // factor)
    noise: torch.Tensor = randn_tensor(shape, generator=generator, device=generator.device, dtype=latent_dtype(pipe))
    return noise


def has_variation(recipe: Recipe) -> bool:
    return recipe.subseed is not None and recipe.subseed_strength != 0


def resized_from(recipe: Recipe, pipe: Any) -> tuple[int, int] | None:
    """The size the seed's noise is drawn at when it differs (in latent cells) from the picture's."""
    if recipe.seed_resize_from_width is None or recipe.seed_resize_from_height is None:
        return None
    factor = int(pipe.vae_scale_factor)
    size = (recipe.seed_resize_from_width, recipe.seed_resize_from_height)
    same = size[0] // factor == recipe.width // factor and size[1] // factor == recipe.height // factor
    return None if same else size


def paste_centred(noise: torch.Tensor, canvas: torch.Tensor) -> torch.Tensor:
    """A1111's seed resize: the middle of `noise` over the middle of `canvas` (both (1, C, H, W)); the overlap."""
    dy, dx = (canvas.shape[2] - noise.shape[2]) // 2, (canvas.shape[3] - noise.shape[3]) // 2
    height = noise.shape[2] if dy >= 0 else noise.shape[2] + 2 * dy
    width = noise.shape[3] if dx >= 0 else noise.shape[3] + 2 * dx
    top, left, from_top, from_left = max(dy, 0), max(dx, 0), max(-dy, 0), max(-dx, 0)
    canvas = canvas.clone()
    overlap = noise[:, :, from_top:from_top + height, from_left:from_left + width]
    canvas[:, :, top:top + height, left:left + width] = overlap
    return canvas


def _picture_noise(pipe: Any, recipe: Recipe, generator: torch.Generator, subseed: int | None) -> torch.Tensor:
    resized = resized_from(recipe, pipe)
    # Resized noise comes from a fresh generator on the seed; the picture's own generator then draws the full
    # size noise underneath (A1111's ImageRNG.first), so the sampler's later draws continue as without resize.
    source = generator if resized is None else torch.Generator(generator.device).manual_seed(generator.initial_seed())
    noise = draw_noise(pipe, recipe, source, size=resized)
    if has_variation(recipe):
        sub_generator = torch.Generator(generator.device).manual_seed(subseed if subseed is not None else 0)
        subnoise = draw_noise(pipe, recipe, sub_generator, size=resized)
        mixed = slerp(recipe.subseed_strength, noise[0].float(), subnoise[0].float())  # (C, H/f, W/f)
        noise = mixed.to(noise.dtype).unsqueeze(0)
    if resized is not None:
        noise = paste_centred(noise, draw_noise(pipe, recipe, generator))
    return noise


def variation_latents(pipe: Any, recipe: Recipe, generators: Sequence[torch.Generator],
                      subseeds: Sequence[int | None]) -> torch.Tensor | None:
    """Initial latents (B, C, H/f, W/f) for a batch with a variation or a seed resize; None when the pipeline
    should draw them itself.

    Each picture's own generator draws its seed noise (so the sampler's later noise continues from it, as in
    A1111); the subseed noise comes from a fresh generator on the same device. The slerp runs in fp32 and the
    result goes back to the pipeline's dtype; at strength 1 it is the subseed's noise bit for bit.
    """
    if not has_variation(recipe) and resized_from(recipe, pipe) is None:
        return None
    return torch.cat([_picture_noise(pipe, recipe, generator, subseed)
                      for generator, subseed in zip(generators, subseeds, strict=True)])
