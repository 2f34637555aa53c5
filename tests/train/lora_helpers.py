"""Helpers shared by the LoRA and DreamBooth tests: a two-picture dataset, a TrainingPlan, run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DDPMScheduler
from PIL import Image, ImageDraw

from sfumato.models.families import FAMILIES, Family
from sfumato.train.dataset.buckets import Bucket, fit_to_bucket
from sfumato.train.lora.plan import TrainingPlan, make_plan
from sfumato.train.lora.trainer import LoraRun

CAPTIONS = ("zkz, a red disc", "zkz, a blue square")


def make_dataset(root: Path) -> Path:
    """Two 48 px pictures with captions: simple shapes a LoRA can overfit in a few steps."""
    root.mkdir(parents=True)
    for i, (colour, caption) in enumerate(zip(("red", "blue"), CAPTIONS, strict=True)):
        image = Image.new("RGB", (48, 48), "white")
        draw = ImageDraw.Draw(image)
        (draw.ellipse if i == 0 else draw.rectangle)((8, 8, 40, 40), fill=colour)
        image.save(root / f"{i}.png")
        (root / f"{i}.txt").write_text(caption)
    return root


def lora_plan(dataset: Path, family: Family = Family.SD1, **changes: Any) -> TrainingPlan:
    spec = FAMILIES[family]
    fields = {"name": "t", "base": "tiny", "family": family.value, "dataset": dataset, "steps": 2, "batch": 2,
              "resolution": 32, "rank": 4, "alpha": 4.0, "unet_target_modules": spec.lora_unet_targets,
              "text_target_modules": spec.lora_text_targets, "learning_rate": 1e-2, "min_image_size": 32,
              "seed": 0}
    return make_plan({**fields, **changes})


def run_in(folder: Path, name: str = "t") -> LoraRun:
    return LoraRun(folder / "runs" / name, folder / "Lora" / f"{name}.safetensors", folder / "cache")


def eval_loss(pipe: Any, dataset: Path) -> float:
    """Noise-prediction MSE on the training pictures, with fixed noise and timesteps (32 draws each)."""
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    pictures = [fit_to_bucket(Image.open(dataset / f"{i}.png").convert("RGB"), Bucket(32, 32)) for i in range(2)]
    x = torch.stack([torch.from_numpy(np.asarray(p, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
                     for p in pictures])  # (2, 3, 32, 32)
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        latents = (pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor).repeat(32, 1, 1, 1)
        context = pipe.encode_prompt(list(CAPTIONS), "cpu", 1, False)[0].repeat(32, 1, 1)
        noise = torch.randn(latents.shape, generator=generator)
        t = torch.randint(0, 1000, (len(latents),), generator=generator)
        predicted = pipe.unet(scheduler.add_noise(latents, noise, t), t, context).sample
    return float(torch.nn.functional.mse_loss(predicted, noise))
