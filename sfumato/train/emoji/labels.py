"""Labels: emojibase label and tags plus emojilib keywords, keyed by codepoint key (see codepoints.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sfumato.errors import BadInput
from sfumato.train.emoji.codepoints import codepoint_key, key_of_emoji

# emojibase's group 2 is "component": skin-tone swatches and hair pieces, not subjects.
_EMOJIBASE_COMPONENT_GROUP: Final = 2


@dataclass(frozen=True)
class Label:
    hexcode: str  # as the label source writes it, e.g. "2764-FE0F-200D-1F525"
    emoji: str
    label: str  # "cat face"
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    is_component: bool = False


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadInput(f"label file {path}: cannot be read as JSON ({e})") from e


def load_labels(
    emojibase: Path, emojilib: Path | None, *, include_skin_tones: bool = False
) -> Mapping[str, Label]:
    """emojibase `en/data.json` entries (and their skin tones if asked), with emojilib keywords merged in."""
    keywords = load_emojilib(emojilib) if emojilib is not None else {}
    labels: dict[str, Label] = {}
    for entry in _read_json(emojibase):
        tags = tuple(entry.get("tags", ()))
        component = entry.get("group") == _EMOJIBASE_COMPONENT_GROUP
        variants = [entry, *entry.get("skins", ())] if include_skin_tones else [entry]
        for variant in variants:
            key = codepoint_key(variant["hexcode"])
            extra = tuple(word for word in keywords.get(key, ()) if word not in tags)
            # first source wins: emojibase lists each emoji once, so a repeat is a duplicate spelling
            label = Label(variant["hexcode"], variant["emoji"], variant["label"], tags, extra, component)
            labels.setdefault(key, label)
    return MappingProxyType(labels)


def load_emojilib(path: Path) -> Mapping[str, tuple[str, ...]]:
    """emojilib keywords by key; its first word is the snake_case name ("grinning_face"), dropped, and
    snake_case keywords ("outer_space" beside "outer space") are spelled with spaces and deduplicated."""
    data = _read_json(path)
    return MappingProxyType({
        key_of_emoji(emoji): tuple(dict.fromkeys(word.replace("_", " ") for word in words[1:]))
        for emoji, words in sorted(data.items())
    })


def load_openmoji_labels(path: Path) -> Mapping[str, Label]:
    """OpenMoji's own `data/openmoji.json`: annotation as label, its tags and OpenMoji's tags."""
    labels: dict[str, Label] = {}
    for entry in _read_json(path):
        if entry.get("skintone"):
            continue  # skin-tone variants are joined from emojibase only when asked for
        tags = _comma_list(entry.get("tags", ""))
        extra = tuple(tag for tag in _comma_list(entry.get("openmoji_tags", "")) if tag not in tags)
        key = codepoint_key(entry["hexcode"])
        component = entry.get("group") == "component"
        label = Label(entry["hexcode"], entry["emoji"], entry["annotation"], tags, extra, component)
        labels.setdefault(key, label)
    return MappingProxyType(labels)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(",") if word.strip())
