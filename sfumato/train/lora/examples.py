"""Training examples: each picture fitted to its bucket and encoded by the VAE once (through the cache).

Pictures are read read-only and converted in memory: alpha composited on white, CMYK, palette and 16-bit
images turned into 8-bit RGB, as `sfumato data check` warns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from sfumato.train.dataset.buckets import Bucket, assign_bucket, fit_to_bucket
from sfumato.train.dataset.cache import EncodingCache, file_hash
from sfumato.train.dataset.folder import DatasetItem


@dataclass(frozen=True)
class Example:
    latents: torch.Tensor  # (C, H/f, W/f), already multiplied by the VAE's scaling_factor
    caption: str
    subset: str  # the dataset folder it came from (ss_tag_frequency groups by it)
    repeats: int
    bucket: Bucket
    original_size: tuple[int, int]  # (h, w) before fitting: SDXL's micro-conditioning
    crop: tuple[int, int]  # (top, left) in the resized picture


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB on white, whatever the mode."""
    if image.mode.startswith("I"):  # 16/32-bit integers: scale to 8 bits instead of clipping
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray((array / max(array.max(), 1.0) * 255).round().astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        return flat.convert("RGB")
    return image.convert("RGB")


def _crop_offsets(size: tuple[int, int], bucket: Bucket) -> tuple[int, int]:
    scale = max(bucket.width / size[0], bucket.height / size[1])
    width, height = max(bucket.width, round(size[0] * scale)), max(bucket.height, round(size[1] * scale))
    return (height - bucket.height) // 2, (width - bucket.width) // 2


def _encode(vae: Any, picture: Image.Image, device: torch.device) -> dict[str, torch.Tensor]:
    array = np.asarray(picture, dtype=np.float32) / 127.5 - 1.0  # (H, W, 3) in [-1, 1]
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device, vae.dtype)  # (1, 3, H, W)
    with torch.inference_mode():
        # The posterior mean, not a sample: a cached latent must not freeze one random draw.
        latents = vae.encode(x).latent_dist.mean[0].float()
    return {"latents": latents}


def prepare_examples(items: Sequence[DatasetItem], *, vae: Any, buckets: Sequence[Bucket], cache: EncodingCache,
                     device: torch.device) -> list[Example]:
    """Every dataset item as latents in its bucket; the VAE runs only for pictures the cache lacks."""
    scale = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    examples = []
    for item in items:
        with Image.open(item.image) as opened:
            size = opened.size
            bucket = assign_bucket(size, buckets)

            def compute(opened: Image.Image = opened, bucket: Bucket = bucket) -> dict[str, torch.Tensor]:
                return _encode(vae, fit_to_bucket(to_rgb(opened), bucket), device)

            latents = cache.latents(file_hash(item.image), (bucket.width, bucket.height), compute)["latents"]
        examples.append(Example((latents - shift) * scale, item.caption, item.subset.name, item.subset.repeats,
                                bucket, (size[1], size[0]), _crop_offsets(size, bucket)))
    return examples


def epoch_batches(examples: Sequence[Example], *, batch: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's batches: each example `repeats` times, batches from one bucket, order fixed by (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    by_bucket: dict[Bucket, list[int]] = {}
    for index, example in enumerate(examples):
        by_bucket.setdefault(example.bucket, []).extend([index] * example.repeats)
    batches = []
    for bucket in sorted(by_bucket):
        members = by_bucket[bucket]
        order = torch.randperm(len(members), generator=generator).tolist()
        shuffled = [members[i] for i in order]
        batches += [shuffled[i:i + batch] for i in range(0, len(shuffled), batch)]
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]
