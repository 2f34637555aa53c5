"""Sample pictures during LoRA training: the plan's fixed prompts and seeds through the pipeline being trained."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from sfumato.train.base.reporting import save_grid
from sfumato.train.lora.plan import TrainingPlan


@dataclass(frozen=True)
class SamplePicture:
    prompt: str
    seed: int
    step: int
    image: Image.Image
    device: str  # where it was drawn ("cpu", "cuda:0"), for its recipe


def draw_samples(pipe: Any, plan: TrainingPlan, *, step: int, accelerator: Any,
                 scheduler: Callable[[Any], Any] | None = None) -> list[SamplePicture]:
    """One picture per (prompt, seed); each seed's generator on the CPU, as the engine draws its noise.

    `scheduler` builds the sampling scheduler from the base config (default: the pipeline's own)."""
    pipe.set_progress_bar_config(disable=True)
    pipe.unet.eval()
    pictures = []
    base_scheduler = pipe.scheduler
    if scheduler is not None:
        pipe.scheduler = scheduler(base_scheduler.config)
    try:
        with torch.no_grad(), accelerator.autocast():
            for prompt in plan.sample_prompts:
                for seed in plan.sample_seeds:
                    image = pipe(prompt, num_inference_steps=plan.sample_steps, guidance_scale=plan.sample_guidance,
                                 height=plan.resolution, width=plan.resolution,
                                 generator=torch.Generator().manual_seed(seed)).images[0]
                    pictures.append(SamplePicture(prompt, seed, step, image, str(accelerator.device)))
    finally:
        pipe.unet.train()
        pipe.scheduler = base_scheduler
    return pictures


def save_sample_grid(pictures: list[SamplePicture], folder: Path, step: int) -> Path:
    """Rows are prompts, columns seeds: `samples/step-000100.png`."""
    rows: dict[str, list[Image.Image]] = {}
    for picture in pictures:
        rows.setdefault(picture.prompt, []).append(picture.image)
    path = folder / f"step-{step:06d}.png"
    save_grid(list(rows.values()), path)
    return path
