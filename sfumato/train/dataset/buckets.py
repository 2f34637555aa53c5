"""Aspect-ratio buckets as kohya makes them: sizes near the training area, each side a multiple of `step`.

`step` is the VAE factor x 8 (64 px for SD), so every bucket's latents divide into the UNet's three
downsamplings. Each picture goes to the bucket whose aspect ratio is closest in log space, then is resized to
cover it and centre-cropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from sfumato.errors import BadInput


@dataclass(frozen=True, order=True)
class Bucket:
    width: int
    height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height


def make_buckets(resolution: int, step: int) -> tuple[Bucket, ...]:
    """kohya's bucket list: for each width from resolution/2 to 2 x resolution (kohya's default min and max
    bucket sizes of 256 and 1024 at 512 px), the tallest height of that step that keeps w*h <= resolution^2."""
    if resolution % step:
        raise BadInput(f"resolution: must be a multiple of {step} (the VAE factor x 8) for this model, "
                       f"got {resolution}")
    area, low, high = resolution * resolution, max(step, resolution // 2 // step * step), resolution * 2
    buckets = {Bucket(resolution, resolution)}
    for width in range(low, high + 1, step):
        height = min(high, area // width // step * step)
        if height >= low:
            buckets.add(Bucket(width, height))
            buckets.add(Bucket(height, width))
    return tuple(sorted(buckets))


def assign_bucket(size: tuple[int, int], buckets: Sequence[Bucket]) -> Bucket:
    """The bucket whose aspect ratio is closest to the picture's (log ratio, ties to the larger area)."""
    aspect = math.log(size[0] / size[1])
    return min(buckets, key=lambda b: (round(abs(math.log(b.aspect) - aspect), 9), -b.width * b.height))


def fit_to_bucket(image: Image.Image, bucket: Bucket) -> Image.Image:
    """Resize to cover the bucket (Lanczos), then centre-crop to it exactly."""
    scale = max(bucket.width / image.width, bucket.height / image.height)
    size = (max(bucket.width, round(image.width * scale)), max(bucket.height, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS) if size != image.size else image
    left, top = (size[0] - bucket.width) // 2, (size[1] - bucket.height) // 2
    return resized.crop((left, top, left + bucket.width, top + bucket.height))
