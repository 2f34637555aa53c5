"""VAE decoding with the 16-bit overflow guard: latents -> pixels, decoded again in fp32 on NaN/inf.

SDXL's VAE overflows in fp16 (activations past 65504 become inf, then NaN: a black picture); the retry
turns that into a correct picture plus a warning the Picture carries.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

_HALF_DTYPES = {torch.float16: "fp16", torch.bfloat16: "bf16"}


def unscale_latents(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    """Undo the VAE's latent scaling (and shift, or per-channel statistics) as its pipelines do, in fp32."""
    config = vae.config
    latents = latents.float()
    mean, std = config.get("latents_mean"), config.get("latents_std")
    if mean is not None and std is not None:  # per-channel statistics (Playground v2.5-style SDXL VAEs)
        mean_t = torch.tensor(mean, device=latents.device).view(1, -1, 1, 1)
        std_t = torch.tensor(std, device=latents.device).view(1, -1, 1, 1)
        return latents * std_t / config.scaling_factor + mean_t
    return latents / config.scaling_factor + (config.get("shift_factor") or 0.0)


def _decode(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return vae.decode(latents.to(dtype=vae.dtype), return_dict=False)[0]  # (B, 3, H, W)


def _decode_in_fp32(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    """Decode with the VAE upcast in place, then give it back its dtype (fp16 -> fp32 -> fp16 is exact)."""
    give_back = vae.half if vae.dtype == torch.float16 else vae.bfloat16
    # Outside inference mode, so the cached VAE's parameters do not become inference tensors. Module.float()
    # rather than ModelMixin.to(dtype), which logs a spurious "keep in float32" warning on every call.
    with torch.inference_mode(False):
        vae.float()
    try:
        return _decode(vae, latents)
    finally:
        with torch.inference_mode(False):
            give_back()


def decode_latents(
    vae: Any, latents: torch.Tensor, *, upcast_on_nan: bool = True
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Decode scaled latents (B, C, H/f, W/f) to pixels (B, 3, H, W) in about [-1, 1], as float32.

    Returns the pixels and the warnings a Picture should carry (also logged).
    """
    latents = unscale_latents(vae, latents)
    pixels = _decode(vae, latents)
    warnings: list[str] = []
    half = _HALF_DTYPES.get(vae.dtype)
    if half is not None and upcast_on_nan and not torch.isfinite(pixels).all():
        warnings.append(f"the VAE decoded NaN/inf in {half} (16-bit overflow); decoded again in fp32")
        log.warning(warnings[-1])
        pixels = _decode_in_fp32(vae, latents)
    if not torch.isfinite(pixels).all():
        # Under sequential offload the weights come from an fp16 copy, so the upcast cannot help there.
        warnings.append("the VAE output has NaN/inf values: the picture is black or broken")
        log.warning(warnings[-1])
    return pixels.float(), tuple(warnings)
