"""Variation seeds and seed resize with an init image: the noise img2img and inpainting add to the init latents.

A1111 adds slerp(strength, noise(seed), noise(subseed)) to the init latents (processing.py, `ImageRNG.first`).
diffusers' Img2Img / Inpaint pipelines draw that noise themselves and hand it to `scheduler.add_noise`, so the
batch's scheduler gets an `add_noise` that swaps in the slerped noise (every call: the 4-channel inpaint loop
re-noises the kept area with the same noise each step). A1111's "seed resize from" swaps it the same way. Without
a variation or a seed resize nothing here runs, so those pictures stay bit-identical.

diffusers' img2img also samples the VAE posterior of the init image with the seed's generator (its first draw,
before the noise). For plain img2img that draw is varied too, so variation strength 1 gives the subseed's
picture bit for bit (deterministic samplers; ancestral ones keep drawing from the seed, as in A1111). Inpainting
varies the added noise only: its posterior draws come from the first picture's generator, not each seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from sfumato.engine.noise import has_variation, latent_dtype, paste_centred, resized_from, slerp
from sfumato.recipe import Recipe

NoiseSwap = Callable[[torch.Tensor], torch.Tensor]  # the pipeline's noise (B, C, h, w) -> the batch's


def mix(strength: float, noise: torch.Tensor, subnoise: torch.Tensor) -> torch.Tensor:
    """Each picture's (B, C, h, w) `noise` slerped towards `subnoise`, in fp32, back in `noise`'s dtype."""
    sub = subnoise.to(noise.device)
    mixed = [slerp(strength, noise[i].float(), sub[i].float()) for i in range(noise.shape[0])]
    return torch.stack(mixed).to(noise.dtype)


def sub_generators(generators: Sequence[torch.Generator], subseeds: Sequence[int | None]) -> list[torch.Generator]:
    """A fresh generator per picture on its subseed, on the device its seed's noise comes from."""
    return [torch.Generator(g.device).manual_seed(s if s is not None else 0)
            for g, s in zip(generators, subseeds, strict=True)]


def varied_init_latents(pipe: Any, image: Image.Image, generators: Sequence[torch.Generator],
                        subs: Sequence[torch.Generator], strength: float) -> torch.Tensor:
    """The init image's latents (B, C, h, w) as the img2img pipeline would sample them, the draw slerped.

    Takes the same first draw from each seed's generator that `retrieve_latents(..., generator)` would take
    (and from each subseed's), so the pipeline's noise draw that follows is the one it makes without a variation.
    """
    pixels = pipe.image_processor.preprocess(image).to(device=pipe.vae.device, dtype=pipe.vae.dtype)
    posterior = pipe.vae.encode(pixels).latent_dist
    params = posterior.parameters

    def draw(generator: torch.Generator) -> torch.Tensor:
        drawn: torch.Tensor = randn_tensor(posterior.mean.shape, generator=generator, device=params.device,
                                           dtype=params.dtype)
        return drawn

    latents = [posterior.mean + posterior.std * mix(strength, draw(g), draw(s)) for g, s in zip(generators, subs,
                                                                                              strict=True)]
    return _scaled(pipe, torch.cat(latents))


def _scaled(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """The pipelines' scaling of VAE latents: SDXL VAEs may carry a per-channel mean and std."""
    config = pipe.vae.config
    factor = float(config.scaling_factor)
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is not None and std is not None:
        shift = torch.tensor(mean).view(1, -1, 1, 1).to(latents)
        return (latents - shift) * factor / torch.tensor(std).view(1, -1, 1, 1).to(latents)
    return factor * latents


def _draw(pipe: Any, generator: torch.Generator, size: tuple[int, int]) -> torch.Tensor:
    """The next latent noise (1, C, h, w) of `generator` at `size` (width, height), as the pipelines draw it."""
    factor = int(pipe.vae_scale_factor)
    shape = (1, int(pipe.vae.config.latent_channels), size[1] // factor, size[0] // factor)
    dtype = latent_dtype(pipe)
    drawn: torch.Tensor = randn_tensor(shape, generator=generator, device=generator.device, dtype=dtype)
    return drawn


def noise_swap(pipe: Any, recipe: Recipe, generators: Sequence[torch.Generator], subs: Sequence[torch.Generator],
               size: tuple[int, int]) -> NoiseSwap:
    """What the pipeline's own noise becomes: slerped towards each subseed's next draw or, with A1111's "seed
    resize from", the seed's (and subseed's) noise drawn at that size, centred over it (as engine/noise.py)."""
    strength, resized = recipe.subseed_strength, resized_from(recipe, pipe)
    if resized is None:
        subnoise = torch.cat([_draw(pipe, s, size) for s in subs])
        return lambda noise: mix(strength, noise, subnoise)
    small = []
    for generator, sub in zip(generators, subs, strict=True):
        seed_noise = _draw(pipe, torch.Generator(generator.device).manual_seed(generator.initial_seed()), resized)
        if has_variation(recipe):
            fresh = torch.Generator(sub.device).manual_seed(sub.initial_seed())
            seed_noise = mix(strength, seed_noise, _draw(pipe, fresh, resized))
        small.append(seed_noise)
    return lambda noise: torch.cat([paste_centred(small[i].to(noise), noise[i:i + 1]) for i in range(len(small))])


@contextmanager
def swapped_add_noise(scheduler: Any, swap: NoiseSwap) -> Iterator[None]:
    """While open, `scheduler.add_noise` adds `swap(noise)` instead of the pipeline's own noise.

    Set on the instance (this batch's own scheduler, made fresh by generate_batch) and removed on the way out.
    """
    original = scheduler.add_noise

    def add_noise(samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return original(samples, swap(noise), timesteps)  # type: ignore[no-any-return]

    scheduler.add_noise = add_noise
    try:
        yield
    finally:
        del scheduler.add_noise
