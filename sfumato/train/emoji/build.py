"""Build emoji datasets: pictures joined with labels on the codepoint, written as images + captions.

Layout (the one users train on): `images/<style>/<slug>.png` with a same-named `.txt` caption,
`metadata.jsonl` (one row per picture, Hugging Face imagefolder-compatible) and `NOTICE`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput
from sfumato.train.emoji.captions import caption, slugify
from sfumato.train.emoji.codepoints import is_skin_tone_variant
from sfumato.train.emoji.fetch import ensure_package
from sfumato.train.emoji.holdouts import is_held_out
from sfumato.train.emoji.labels import Label, load_labels, load_openmoji_labels
from sfumato.train.emoji.notice import notice_text
from sfumato.train.emoji.pictures import PictureRef, find_pictures, png_bytes, render
from sfumato.train.emoji.sources import BASE_STYLES, HOLDOUT_STYLES, LABEL_SOURCES, ImageSource, image_source


@dataclass(frozen=True)
class DatasetReport:
    out: Path
    size: int
    written: Mapping[str, int]  # style -> pictures written
    skipped: Mapping[str, Mapping[str, int]]  # style -> reason -> how many
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.written.values())


@dataclass(frozen=True)
class HoldoutReports:
    style: DatasetReport  # the OpenMoji style set (a style LoRA learns it)
    concepts: DatasetReport  # the held-out subjects in the base styles (DreamBooth learns them)


@dataclass(frozen=True)
class _Entry:
    source: ImageSource
    picture: PictureRef
    label: Label
    slug: str


@dataclass(frozen=True)
class _Selection:
    keep: Callable[[str], bool]  # decides on a codepoint key
    refusal: str  # the skip reason when `keep` says no
    include_skin_tones: bool
    limit: int | None


def build_emoji_dataset(
    out: Path,
    *,
    cache: Path,
    size: int = 64,
    styles: Sequence[str] = BASE_STYLES,
    include_holdouts: bool = False,
    include_skin_tones: bool = False,
    limit: int | None = None,
) -> DatasetReport:
    """The base training set: every permissive style, held-out concepts left out unless asked for."""
    sources = _base_sources(styles)
    keep = (lambda key: True) if include_holdouts else (lambda key: not is_held_out(key))
    selection = _Selection(keep, "held-out concept", include_skin_tones, limit)
    return _build(out, sources, selection, cache=cache, size=size, title="sfumato emoji dataset (base)")


def build_holdout_datasets(
    out: Path,
    *,
    cache: Path,
    size: int = 64,
    styles: Sequence[str] = BASE_STYLES,
    limit: int | None = None,
) -> HoldoutReports:
    """Two separate datasets under `out`: `openmoji-style/` and `holdout-concepts/` (in `styles`)."""
    # The OpenMoji set leaves the held-out subjects out too, so a style LoRA never teaches them and the
    # DreamBooth demo stays a clean "never seen" subject.
    openmoji = [image_source(style) for style in HOLDOUT_STYLES]
    style_report = _build(
        out / "openmoji-style", openmoji,
        _Selection(lambda key: not is_held_out(key), "held-out concept", False, limit),
        cache=cache, size=size, title="sfumato emoji dataset (hold-out style: OpenMoji)",
    )
    concepts_report = _build(
        out / "holdout-concepts", _base_sources(styles),
        _Selection(is_held_out, "not a held-out concept", False, limit),
        cache=cache, size=size, title="sfumato emoji dataset (held-out concepts)",
    )
    return HoldoutReports(style_report, concepts_report)


def _base_sources(styles: Sequence[str]) -> list[ImageSource]:
    if not styles:
        raise BadInput(f"styles: at least one style is needed; valid styles are {', '.join(BASE_STYLES)}")
    sources = [image_source(style) for style in dict.fromkeys(styles)]
    if held := [s.style for s in sources if s.is_holdout_style]:
        raise BadInput(
            f"styles: {held} is a hold-out style and never part of the base dataset",
            hint="build it with build_holdout_datasets (CLI: --holdouts)",
        )
    return sources


def _build(
    out: Path, sources: Sequence[ImageSource], selection: _Selection, *, cache: Path, size: int, title: str
) -> DatasetReport:
    if size < 8:
        raise BadInput(f"size: must be at least 8 pixels, got {size}")
    started = time.perf_counter()
    _check_out(out)
    labels = _labels(cache, selection.include_skin_tones)
    entries: list[_Entry] = []
    skipped: dict[str, Mapping[str, int]] = {}
    for source in sources:
        chosen, skipped[source.style] = _select(source, labels, selection, cache=cache)
        entries += chosen
    rows = [_write_entry(out, entry, size) for entry in entries]
    rows.sort(key=lambda row: str(row["file_name"]))
    metadata = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    atomic_write_bytes(out / "metadata.jsonl", metadata.encode("utf-8"))
    atomic_write_bytes(out / "NOTICE", notice_text(sources, size=size, title=title).encode("utf-8"))
    _prune_stale(out, {str(row["file_name"]) for row in rows})
    written = Counter(entry.source.style for entry in entries)
    return DatasetReport(
        out, size, MappingProxyType({s.style: written[s.style] for s in sources}),
        MappingProxyType(skipped), time.perf_counter() - started,
    )


def _labels(cache: Path, include_skin_tones: bool) -> Mapping[str, Label]:
    emojibase = LABEL_SOURCES["emojibase"]
    emojilib = LABEL_SOURCES["emojilib"]
    return load_labels(
        ensure_package(emojibase.package, cache=cache) / emojibase.path,
        ensure_package(emojilib.package, cache=cache) / emojilib.path,
        include_skin_tones=include_skin_tones,
    )


def _select(
    source: ImageSource, labels: Mapping[str, Label], selection: _Selection, *, cache: Path
) -> tuple[list[_Entry], Mapping[str, int]]:
    """The style's entries to write, sorted by file name, and the skip reasons counted."""
    root = ensure_package(source.package, cache=cache)
    chars_root = ensure_package(source.chars_package, cache=cache) if source.chars_package else None
    names = {slugify(label.label): key for key, label in sorted(labels.items())}
    pictures, ignored = find_pictures(source, root, chars_root, names=names)
    own = load_openmoji_labels(root / source.labels_path) if source.labels_path else {}
    reasons: Counter[str] = Counter({"file name is not a codepoint": ignored} if ignored else {})
    found: list[tuple[str, str, PictureRef, Label]] = []
    for key, picture in pictures.items():
        label = labels.get(key) or own.get(key)
        reason = _skip_reason(key, label, selection)
        if reason is not None:
            reasons[reason] += 1
        elif label is not None:
            found.append((slugify(label.label) or key.lower(), key, picture, label))
    found.sort(key=lambda item: (item[0], item[1]))
    if selection.limit is not None and len(found) > selection.limit:
        reasons["over --limit"] += len(found) - selection.limit
        found = found[: selection.limit]
    return _unique_slugs(source, found), MappingProxyType(dict(sorted(reasons.items())))


def _skip_reason(key: str, label: Label | None, selection: _Selection) -> str | None:
    if is_skin_tone_variant(key) and not selection.include_skin_tones:
        return "skin-tone variant"
    if label is None:
        return "no label"
    if label.is_component:
        return "component (skin-tone swatch or hair piece)"
    if not selection.keep(key):
        return selection.refusal
    return None


def _unique_slugs(source: ImageSource, found: list[tuple[str, str, PictureRef, Label]]) -> list[_Entry]:
    """Entries with distinct file names: a repeated slug gets its codepoint key appended."""
    taken: set[str] = set()
    entries = []
    for slug, key, picture, label in found:
        unique = slug if slug not in taken else f"{slug}-{key.lower()}"
        taken.add(unique)
        entries.append(_Entry(source, picture, label, unique))
    return entries


def _write_entry(out: Path, entry: _Entry, size: int) -> dict[str, object]:
    """Write one picture and its caption; return its metadata.jsonl row."""
    stem = f"images/{entry.source.style}/{entry.slug}"
    text = caption(entry.label.label, entry.source.style_words)
    (out / stem).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{stem}.png", png_bytes(render(entry.picture, size)))
    atomic_write_bytes(out / f"{stem}.txt", (text + "\n").encode("utf-8"))
    return {
        "file_name": f"{stem}.png",
        "text": text,
        "codepoint": entry.label.hexcode,
        "emoji": entry.label.emoji,
        "label": entry.label.label,
        "tags": list(entry.label.tags),
        "keywords": list(entry.label.keywords),
        "style": entry.source.style,
        "style_words": entry.source.style_words,
        "source_package": entry.source.package.spec,
        "source_file": entry.picture.name,
        "license": entry.source.package.license,
    }


def _check_out(out: Path) -> None:
    """Write only into an empty folder or an earlier emoji dataset (never over someone's files)."""
    if out.exists() and any(out.iterdir()) and not (out / "metadata.jsonl").is_file():
        raise BadInput(f"out: {out} is not empty and holds no earlier dataset (no metadata.jsonl)",
                       hint="choose a new folder")
    out.mkdir(parents=True, exist_ok=True)


def _prune_stale(out: Path, kept: set[str]) -> None:
    """Remove pictures and captions an earlier build left that this one did not write."""
    images = out / "images"
    if not images.is_dir():
        return
    for path in sorted(images.rglob("*")):
        picture = path.with_suffix(".png").relative_to(out).as_posix()
        if path.is_file() and path.suffix in {".png", ".txt"} and picture not in kept:
            path.unlink()
    for folder in sorted(images.iterdir()):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
