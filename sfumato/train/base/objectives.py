"""The two training objectives: the VAE's reconstruction loss and the UNet's noise-prediction loss.

Each returns a `LossFn(model, generator)` that draws its own batch, noise and timesteps from `generator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final

import torch
import torch.nn.functional as F

from sfumato.train.base.data import CaptionTable, to_model_range
from sfumato.train.base.loop import LossFn

KL_WEIGHT: Final = 1e-4  # per latent element; just enough to keep latents near unit scale
MIN_SNR_GAMMA: Final = 5.0  # Min-SNR weighting, Hang et al. 2023 ("Efficient Diffusion Training via Min-SNR")


@dataclass(frozen=True)
class Batching:
    size: int
    device: torch.device
    bf16: bool

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


def vae_objective(pixels: torch.Tensor, batching: Batching, crop: int | None = None) -> LossFn:
    """L1 + MSE reconstruction of a random batch through a sampled latent, plus a small KL term.

    `crop`: train on random crop x crop windows. The VAE is convolutional (its one attention layer works at any
    size), so 32 px crops of 64 px pictures teach the same reconstruction at a quarter of the cost per picture.
    """
    def loss(vae: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(len(pixels), (batching.size,), generator=generator)
        batch = pixels[index]
        if crop is not None and crop < batch.shape[-1]:
            batch = _random_crops(batch, crop, generator)
        x = to_model_range(batch).to(batching.device)  # (B, 3, R, R)
        with batching.autocast():
            posterior = vae.encode(x).latent_dist  # type: ignore[operator]
        mean, logvar = posterior.mean.float(), posterior.logvar.float()
        noise = torch.randn(mean.shape, generator=generator).to(batching.device)
        with batching.autocast():
            reconstruction = vae.decode(mean + torch.exp(0.5 * logvar) * noise).sample.float()  # type: ignore[operator]
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        return (reconstruction - x).abs().mean() + F.mse_loss(reconstruction, x) + KL_WEIGHT * kl

    return loss


def _random_crops(batch: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    corners = torch.randint(0, batch.shape[-1] - size + 1, (len(batch), 2), generator=generator).tolist()
    return torch.stack([picture[:, y:y + size, x:x + size] for picture, (y, x) in zip(batch, corners, strict=True)])


def encode_latents(vae: Any, pixels: torch.Tensor, batching: Batching) -> tuple[torch.Tensor, float]:
    """Posterior means of every picture (N, C, R/f, R/f) on the CPU, scaled to unit std; and that scale."""
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(pixels), 256):
            x = to_model_range(pixels[start:start + 256]).to(batching.device)
            chunks.append(vae.encode(x).latent_dist.mean.float().cpu())
    latents = torch.cat(chunks)
    # SD's scaling_factor plays the same part: 0.18215 = 1 / std of its VAE's latents.
    scale = float(1.0 / latents.std().clamp(min=1e-6))
    return latents * scale, scale


def unet_objective(latents: torch.Tensor, states: torch.Tensor, table: CaptionTable, *, scheduler: Any,
                   caption_dropout: float, batching: Batching) -> LossFn:
    """Epsilon prediction with Min-SNR weights; a random caption variant per picture, some dropped for CFG."""
    alphas = scheduler.alphas_cumprod.float()  # (T,)
    steps = int(scheduler.config.num_train_timesteps)

    def loss(unet: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(len(latents), (batching.size,), generator=generator)
        pick = torch.randint(0, 1 << 30, (batching.size,), generator=generator)
        dropped = torch.rand(batching.size, generator=generator) < caption_dropout
        captions = _caption_ids(table.variants, index.tolist(), pick.tolist(), dropped.tolist())
        context = states[captions].float().to(batching.device)  # (B, T, 384)
        x0 = latents[index]
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, steps, (batching.size,), generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = (a.sqrt() * x0 + (1 - a).sqrt() * noise).to(batching.device)  # forward process q(x_t | x_0)
        with batching.autocast():
            predicted = unet(noisy, t.to(batching.device), context).sample.float()  # type: ignore[operator]
        snr = alphas[t] / (1 - alphas[t])
        weight = (snr.clamp(max=MIN_SNR_GAMMA) / snr).to(batching.device)
        per_sample = (predicted - noise.to(batching.device)).pow(2).mean(dim=(1, 2, 3))
        return (weight * per_sample).mean()

    return loss


def _caption_ids(variants: Sequence[Sequence[int]], index: list[int], pick: list[int],
                 dropped: list[bool]) -> list[int]:
    return [0 if drop else variants[i][p % len(variants[i])] for i, p, drop in zip(index, pick, dropped, strict=True)]
