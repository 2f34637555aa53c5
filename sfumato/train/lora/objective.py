"""The LoRA training loss for one batch: noise, timesteps and captions drawn from the run's generator, the
diffusion target (epsilon or v), Min-SNR weights (diffusers' compute_snr) and an optional noise offset.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.training_utils import compute_snr

from sfumato.train.dataset.cache import EncodingCache
from sfumato.train.dataset.captions import augment_caption
from sfumato.train.lora.conditioning import encode_captions, sdxl_time_ids, unet_kwargs
from sfumato.train.lora.examples import Example
from sfumato.train.lora.plan import TrainingPlan

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Objective:
    plan: TrainingPlan
    pipe: Any
    noise_scheduler: Any  # a DDPMScheduler with the base model's training schedule
    examples: Sequence[Example]
    text_cache: EncodingCache | None  # None when text encoders train or captions shuffle (states change)
    device: torch.device
    weight_dtype: torch.dtype
    sdxl: bool

    def text(self, captions: Sequence[str]) -> Tensors:
        """Text states for the batch; frozen encoders are read from (or written to) the cache per caption."""
        def encode(batch: Sequence[str]) -> Tensors:
            return encode_captions(self.pipe, batch, device=self.device, sdxl=self.sdxl)

        if self.text_cache is None:
            return encode(captions)

        def one(caption: str) -> Tensors:
            with torch.no_grad():
                return {key: value[0] for key, value in encode([caption]).items()}

        rows = [self.text_cache.text(caption, functools.partial(one, caption)) for caption in captions]
        return {key: torch.stack([row[key] for row in rows]).to(self.device) for key in rows[0]}

    def captions(self, examples: Sequence[Example], generator: torch.Generator) -> list[str]:
        """The batch's captions, shuffled and dropped as the plan says (textual inversion adds its templates)."""
        plan = self.plan
        return [augment_caption(e.caption, shuffle=plan.shuffle_tags, keep=plan.keep_tokens,
                                dropout=plan.caption_dropout, generator=generator) for e in examples]

    def loss(self, unet: torch.nn.Module, indices: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        plan, examples = self.plan, [self.examples[i] for i in indices]
        latents = torch.stack([e.latents for e in examples])  # (B, C, H/f, W/f)
        noise = torch.randn(latents.shape, generator=generator)
        if plan.noise_offset:  # Guttenberg 2023, "Diffusion with Offset Noise": shifts each channel's mean
            noise = noise + plan.noise_offset * torch.randn((*latents.shape[:2], 1, 1), generator=generator)
        steps = int(self.noise_scheduler.config.num_train_timesteps)
        t = torch.randint(0, steps, (len(examples),), generator=generator)
        captions = self.captions(examples, generator)
        latents, noise, t = latents.to(self.device), noise.to(self.device), t.to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        epsilon = self.noise_scheduler.config.prediction_type == "epsilon"
        target = noise if epsilon else self.noise_scheduler.get_velocity(latents, noise, t)
        time_ids = torch.stack([sdxl_time_ids(e.original_size, e.crop, (e.bucket.height, e.bucket.width))
                                for e in examples]).to(self.device) if self.sdxl else None
        kwargs = unet_kwargs(self.text(captions), time_ids, dtype=self.weight_dtype)
        predicted = unet(noisy.to(self.weight_dtype), t, **kwargs).sample  # type: ignore[operator]
        per_sample = F.mse_loss(predicted.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if plan.min_snr_gamma is not None:
            # Min-SNR-gamma (Hang et al. 2023, eq. 9): weight min(SNR, gamma) / SNR, or / (SNR + 1) for v.
            snr = compute_snr(self.noise_scheduler, t)
            weight = snr.clamp(max=plan.min_snr_gamma) / (snr if epsilon else snr + 1)
            per_sample = per_sample * weight
        return per_sample.mean()


@dataclass(frozen=True)
class LossTerms:
    """The step's loss: the dataset's, plus DreamBooth's prior-preservation loss on class pictures (weighted)."""

    main: Objective
    main_batch: Callable[[int], list[int]]
    prior: Objective | None = None
    prior_batch: Callable[[int], list[int]] | None = None

    def __call__(self, unet: torch.nn.Module, micro_batch: int, generator: torch.Generator) -> torch.Tensor:
        loss = self.main.loss(unet, self.main_batch(micro_batch), generator)
        if self.prior is not None and self.prior_batch is not None:
            prior = self.prior.loss(unet, self.prior_batch(micro_batch), generator)
            loss = loss + self.main.plan.prior_loss_weight * prior
        return loss
