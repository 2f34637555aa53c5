"""Sample grids during training: VAE reconstructions of fixed pictures, UNet pictures of fixed prompts and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import torch
from PIL import Image

from sfumato.models.minilm import load_minilm
from sfumato.train.base.data import to_model_range
from sfumato.train.base.package import build_pipeline
from sfumato.train.base.reporting import save_grid

SAMPLE_PROMPTS: Final = (
    "a cat face, twemoji style", "a red apple, noto style", "a rocket, 3d style", "a pizza, flat style",
    "a smiling face with heart-eyes, fluent style", "a kitty", "a dog", "a house",
)
SAMPLE_SEEDS: Final = (0, 1)
SAMPLE_STEPS: Final = 12
SAMPLE_GUIDANCE: Final = 5.0


def _to_pil(pixels: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> PIL pictures."""
    array = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in array]


def save_vae_samples(vae: Any, pixels: torch.Tensor, path: Path, *, device: torch.device) -> None:
    """Top row: 8 fixed training pictures; bottom row: their reconstructions through the latent mean."""
    originals = pixels[torch.linspace(0, len(pixels) - 1, min(8, len(pixels))).long()]
    with torch.inference_mode():
        x = to_model_range(originals).to(device)
        reconstruction = vae.decode(vae.encode(x).latent_dist.mean).sample
    save_grid([_to_pil(x), _to_pil(reconstruction)], path)


class UNetSampler:
    """Draws the fixed prompt grid with the EMA UNet through a real StableDiffusionPipeline (MiniLM loads once)."""

    def __init__(self, *, vae: Any, max_tokens: int, resolution: int, device: torch.device) -> None:
        self.vae, self.resolution, self.device = vae, resolution, device
        self.max_tokens = max_tokens
        self._text: tuple[Any, Any] | None = None

    def __call__(self, unet: torch.nn.Module, path: Path) -> None:
        if self._text is None:
            encoder, tokenizer = load_minilm(max_tokens=self.max_tokens)
            self._text = (encoder.to(self.device), tokenizer)
        pipe = build_pipeline(unet=unet, vae=self.vae, encoder=self._text[0], tokenizer=self._text[1])
        rows = []
        for seed in SAMPLE_SEEDS:
            generators = [torch.Generator().manual_seed(seed) for _ in SAMPLE_PROMPTS]
            with torch.inference_mode():
                images = pipe(list(SAMPLE_PROMPTS), num_inference_steps=SAMPLE_STEPS, guidance_scale=SAMPLE_GUIDANCE,
                              height=self.resolution, width=self.resolution, generator=generators).images
            rows.append(images)
        save_grid(rows, path)
