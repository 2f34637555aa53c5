"""Caption augmentation as kohya does it: shuffle comma-separated tags keeping the first N, and caption dropout.

Random choices come from the caller's torch.Generator, so a resumed run draws the same captions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import torch


def split_tags(caption: str) -> list[str]:
    return [tag.strip() for tag in caption.split(",") if tag.strip()]


def shuffle_tags(caption: str, *, keep: int, generator: torch.Generator) -> str:
    """The first `keep` tags stay in place (the trigger word, say); the rest are shuffled."""
    tags = split_tags(caption)
    head, tail = tags[:keep], tags[keep:]
    order = torch.randperm(len(tail), generator=generator).tolist() if tail else []
    return ", ".join(head + [tail[i] for i in order])


def tag_frequency(captions: Iterable[str]) -> dict[str, int]:
    """How often each tag appears (kohya's ss_tag_frequency, per dataset folder)."""
    return dict(Counter(tag for caption in captions for tag in split_tags(caption)))


def augment_caption(caption: str, *, shuffle: bool, keep: int, dropout: float, generator: torch.Generator) -> str:
    """One training caption: dropped to "" with probability `dropout` (for classifier-free guidance), else
    shuffled when asked. The dropout draw happens every time so the generator's stream does not depend on it."""
    dropped = bool(torch.rand((), generator=generator) < dropout)
    text = shuffle_tags(caption, keep=keep, generator=generator) if shuffle else caption
    return "" if dropped else text
