"""Training data for the embedded model: pictures as one uint8 tensor, captions with templated variants.

Reads a dataset folder as `sfumato data build-emoji` writes it (`metadata.jsonl` with label, tags and style
words), or any images-plus-captions folder (`*.png` with a same-named `.txt`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sfumato.errors import BadInput

EMPTY_CAPTION = ""  # what caption dropout trains on: the pipeline's unconditional (negative) prompt


@dataclass(frozen=True)
class Example:
    image: Path
    captions: tuple[str, ...]  # the dataset's caption first, then templated variants
    label: str  # the subject ("cat face"); the caption when the dataset has no labels
    style: str  # "" when the dataset has no styles
    style_words: str = ""  # how captions name the style ("3d style")


def _stable_pick(options: Sequence[str], key: str) -> str:
    # hashlib, not hash(): Python salts str hashes per process, and captions must be the same every run.
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    return options[digest % len(options)]


def caption_variants(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The caption, the bare label (no style: style-free prompts work too) and 'a {tag}, {style}'.

    The tag variant teaches the encoder's neighbours of a label ("kitty" for "cat face"); one is picked per
    picture by a stable hash, so each style sees a different tag.
    """
    text = str(row["text"]).strip()
    label = str(row.get("label") or "").strip()
    style_words = str(row.get("style_words") or "").strip()
    words = [str(w) for w in (*row.get("tags", ()), *row.get("keywords", ())) if str(w).strip()]
    variants = [text]
    if label and label != text:
        variants.append(label)
    if words:
        word = _stable_pick(words, text)
        variants.append(f"a {word}, {style_words}" if style_words else f"a {word}")
    return tuple(dict.fromkeys(variants))


def read_examples(folder: Path, *, limit: int | None = None) -> list[Example]:
    """Every picture of the dataset in a stable order; `limit` keeps the first N (for quick runs and tests)."""
    folder = Path(folder)
    metadata = folder / "metadata.jsonl"
    if metadata.is_file():
        rows = [json.loads(line) for line in metadata.read_text(encoding="utf-8").splitlines() if line.strip()]
        examples = [Example(folder / row["file_name"], caption_variants(row), str(row.get("label") or row["text"]),
                            str(row.get("style") or ""), str(row.get("style_words") or "")) for row in rows]
    else:
        examples = [Example(png, (png.with_suffix(".txt").read_text(encoding="utf-8").strip(),),
                            png.stem, png.parent.name)
                    for png in sorted(folder.rglob("*.png")) if png.with_suffix(".txt").is_file()]
    if not examples:
        raise BadInput(f"dataset: {str(folder)!r} has no metadata.jsonl rows and no *.png with a .txt caption")
    return examples[:limit] if limit is not None else examples


def load_pixels(examples: Sequence[Example], resolution: int) -> torch.Tensor:
    """(N, 3, R, R) uint8: RGB on white, resized with Lanczos where the dataset has another size."""
    out = np.empty((len(examples), resolution, resolution, 3), dtype=np.uint8)
    for i, example in enumerate(examples):
        with Image.open(example.image) as image:
            rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        rgb = flat.convert("RGB")
        if rgb.size != (resolution, resolution):
            rgb = rgb.resize((resolution, resolution), Image.Resampling.LANCZOS)
        out[i] = np.asarray(rgb)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float in [-1, 1], as the VAE reads pictures."""
    return pixels.float() / 127.5 - 1.0


@dataclass(frozen=True)
class CaptionTable:
    """Unique captions, and for each picture the indices of its caption variants in that list."""

    captions: tuple[str, ...]  # index 0 is EMPTY_CAPTION
    variants: tuple[tuple[int, ...], ...]


def caption_table(examples: Sequence[Example]) -> CaptionTable:
    index: dict[str, int] = {EMPTY_CAPTION: 0}
    variants = tuple(tuple(index.setdefault(c, len(index)) for c in example.captions) for example in examples)
    return CaptionTable(tuple(index), variants)
