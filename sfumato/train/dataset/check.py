"""`sfumato data check`: every problem of a dataset folder, found before training starts, without changing it.

Errors (unreadable or truncated files, tiny images, missing or empty captions) make training refuse the
dataset; warnings (CMYK, alpha, 16-bit, palette, duplicates, orphan captions) are converted or only reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from PIL import Image, UnidentifiedImageError

from sfumato.errors import BadInput
from sfumato.train.dataset.folder import CAPTION_SUFFIX, Subset, image_files, read_caption, subsets

Severity = Literal["error", "warning"]
DEFAULT_MIN_SIZE: Final = 64  # pixels on the short side; below this a picture teaches nothing at 512 px

# Modes PIL opens that training converts: why each is worth a warning.
_MODE_WARNINGS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType({
    "CMYK": ("cmyk", "CMYK image: converted to RGB for training (colours may shift)"),
    "RGBA": ("alpha", "has an alpha channel: composited on white for training"),
    "LA": ("alpha", "has an alpha channel: composited on white for training"),
    "PA": ("alpha", "has an alpha channel: composited on white for training"),
    "P": ("palette", "palette image: converted to RGB for training"),
    "I;16": ("16-bit", "16-bit image: reduced to 8 bits per channel for training"),
    "I;16B": ("16-bit", "16-bit image: reduced to 8 bits per channel for training"),
    "I;16L": ("16-bit", "16-bit image: reduced to 8 bits per channel for training"),
    "I": ("16-bit", "16/32-bit integer image: reduced to 8 bits per channel for training"),
})


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the dataset folder
    severity: Severity
    code: str  # unreadable, truncated, tiny, duplicate, missing-caption, empty-caption, cmyk, alpha, ...
    message: str


@dataclass(frozen=True)
class CheckReport:
    dataset: Path
    images: int
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    def to_json(self) -> dict[str, Any]:
        return {"dataset": str(self.dataset), "images": self.images, "errors": len(self.errors),
                "warnings": len(self.warnings), "problems": [asdict(p) for p in self.problems]}

    def raise_for_errors(self) -> None:
        """Training's gate: a dataset with errors is refused, naming the first few."""
        if self.errors:
            shown = "; ".join(f"{p.file}: {p.message}" for p in self.errors[:5])
            more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            raise BadInput(f"dataset: {str(self.dataset)!r} has {len(self.errors)} errors: {shown}{more}",
                           hint=f"run `sfumato data check {self.dataset}` for the full report")


def _image_problems(path: Path, rel: str, min_size: int) -> tuple[list[Problem], str | None]:
    """Problems of one image file and its content hash (None when it cannot be read)."""
    data = path.read_bytes()
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums; the image must be reopened afterwards
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file fails here
            mode, size, info = image.mode, image.size, dict(image.info)
    except UnidentifiedImageError:
        return [Problem(rel, "error", "unreadable", "not an image PIL can read")], None
    except (OSError, SyntaxError, ValueError) as e:
        code = "truncated" if "truncated" in str(e).lower() else "unreadable"
        return [Problem(rel, "error", code, f"cannot be decoded ({e})")], None
    problems = []
    if min(size) < min_size:
        problems.append(Problem(rel, "error", "tiny", f"{size[0]}x{size[1]} px: the short side must be at least "
                                                      f"{min_size} px"))
    if mode in _MODE_WARNINGS:
        code, message = _MODE_WARNINGS[mode]
        problems.append(Problem(rel, "warning", code, message))
    elif "transparency" in info:
        problems.append(Problem(rel, "warning", "alpha", "has a transparent colour: composited on white"))
    return problems, hashlib.sha256(data).hexdigest()


def _caption_problems(image: Path, rel: str, subset: Subset, required: bool = True) -> list[Problem]:
    try:
        caption = read_caption(image)
    except BadInput as e:
        return [Problem(rel, "error", "unreadable-caption", e.message)]
    # kohya's class words (or DreamBooth's instance prompt) stand in for a missing caption, as kohya does.
    severity: Severity = "warning" if subset.class_words or not required else "error"
    fallback = f": {subset.class_words!r} is used instead" if subset.class_words else ""
    if caption is None:
        return [Problem(rel, severity, "missing-caption", f"no {image.with_suffix(CAPTION_SUFFIX).name}{fallback}")]
    if not caption:
        return [Problem(rel, severity, "empty-caption", f"{image.with_suffix(CAPTION_SUFFIX).name} is empty{fallback}")]
    return []


def check_dataset(root: Path, *, min_size: int = DEFAULT_MIN_SIZE, default_caption: str = "",
                  captions_required: bool = True) -> CheckReport:
    """Read every file of the dataset (read-only) and report every problem, in file order.

    `default_caption` (DreamBooth's instance prompt), or `captions_required=False` (textual inversion, whose
    templates name the token), makes a missing caption a warning."""
    root = Path(root)
    problems: list[Problem] = []
    first_seen: dict[str, str] = {}
    count = 0
    for subset in subsets(root, default_caption=default_caption):
        images = image_files(subset)
        count += len(images)
        for image in images:
            rel = image.relative_to(root).as_posix()
            found, digest = _image_problems(image, rel, min_size)
            problems += found
            if digest is not None and digest in first_seen:
                problems.append(Problem(rel, "warning", "duplicate", f"same bytes as {first_seen[digest]}"))
            elif digest is not None:
                first_seen[digest] = rel
            problems += _caption_problems(image, rel, subset, captions_required)
        problems += _orphan_captions(root, subset, images)
    if count == 0:
        problems.append(Problem(".", "error", "empty", "no images in the dataset folder"))
    return CheckReport(root, count, tuple(problems))


def _orphan_captions(root: Path, subset: Subset, images: list[Path]) -> list[Problem]:
    stems = {image.with_suffix("") for image in images}
    found = subset.folder.rglob(f"*{CAPTION_SUFFIX}") if subset.recursive else subset.folder.glob(f"*{CAPTION_SUFFIX}")
    return [Problem(p.relative_to(root).as_posix(), "warning", "orphan-caption", "caption without an image")
            for p in sorted(found) if p.with_suffix("") not in stems]
