"""Read a dataset folder: images with same-named `.txt` captions, or kohya's `10_zkz man/` repeat folders.

A kohya folder name is `<repeats>_<class words>`: every image in it counts `repeats` times per epoch, and an
image without a caption is captioned with the class words. Nothing here writes to the folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sfumato.errors import BadInput

IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
CAPTION_SUFFIX: Final = ".txt"
_KOHYA_FOLDER: Final = re.compile(r"^(\d+)_(.+)$")


@dataclass(frozen=True)
class Subset:
    """One folder of the dataset: its images repeat `repeats` times; `class_words` stand in for a missing caption."""

    folder: Path
    repeats: int = 1
    class_words: str = ""  # kohya's class words, or DreamBooth's instance prompt; "" when neither
    recursive: bool = True  # a plain dataset includes sub-folders; a kohya subset is its folder only

    @property
    def name(self) -> str:
        return self.folder.name


@dataclass(frozen=True)
class DatasetItem:
    image: Path
    caption: str  # "" when there is neither a caption file nor class words
    subset: Subset
    has_caption_file: bool


def subsets(root: Path, *, default_caption: str = "") -> list[Subset]:
    """kohya's `N_words` sub-folders when there are any, else the folder itself (1 repeat, `default_caption`
    for pictures without a caption: DreamBooth's instance prompt)."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"dataset: {str(root)!r} is not a folder")
    kohya = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        match = _KOHYA_FOLDER.match(child.name)
        if match is not None:
            kohya.append(Subset(child, int(match.group(1)), match.group(2).strip(), recursive=False))
    return kohya or [Subset(root, 1, default_caption)]


def image_files(subset: Subset) -> list[Path]:
    """The subset's image files in a stable order (kohya subsets: the folder only; plain: every sub-folder)."""
    found = subset.folder.rglob("*") if subset.recursive else subset.folder.glob("*")
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def read_caption(image: Path) -> str | None:
    """The caption beside `image`, stripped; None when there is no caption file."""
    caption = image.with_suffix(CAPTION_SUFFIX)
    if not caption.is_file():
        return None
    try:
        return caption.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as e:
        raise BadInput(f"caption: {str(caption)!r} is not UTF-8 text ({e.reason} at byte {e.start})") from e


def read_dataset(root: Path, *, default_caption: str = "") -> list[DatasetItem]:
    """Every image with its caption (class words where the caption file is missing or empty)."""
    items = []
    for subset in subsets(root, default_caption=default_caption):
        for image in image_files(subset):
            caption = read_caption(image)
            items.append(DatasetItem(image, caption or subset.class_words, subset, caption is not None))
    if not items:
        raise BadInput(f"dataset: {str(root)!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return items


def class_items(folder: Path, prompt: str) -> list[DatasetItem]:
    """DreamBooth's class pictures: every image in `folder`, all captioned `prompt`."""
    subset = Subset(Path(folder), 1, prompt, recursive=False)
    items = [DatasetItem(image, prompt, subset, False) for image in image_files(subset)] if subset.folder.is_dir() else []
    if not items:
        raise BadInput(f"class_data: {str(folder)!r} has no class pictures")
    return items
