"""Codepoint keys: the one spelling every source is joined on (upper-case hex, '-'-joined, no FE0F)."""

from __future__ import annotations

from typing import Final

# Variation selector 16 asks for emoji presentation; sources disagree on writing it ("2764-FE0F" in
# emoji-datasource and the 3D WebP names, "2764" in emojibase and iconify), so the join key drops it.
_VS16: Final = "FE0F"
# CANCEL TAG ends the subdivision-flag tag sequences (England, Scotland, Wales); the 3D WebP names
# leave it out.
_CANCEL_TAG: Final = "E007F"
# Fitzpatrick modifiers U+1F3FB..U+1F3FF mark skin-tone variants of a base emoji.
SKIN_TONES: Final[frozenset[str]] = frozenset({"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"})


def codepoint_key(hexcode: str) -> str:
    """'2764-fe0f-200d-1f525' and '2764-200D-1F525' -> '2764-200D-1F525'."""
    parts = [part.upper().lstrip("0").rjust(4, "0") for part in hexcode.replace("_", "-").split("-") if part]
    return "-".join(part for part in parts if part not in (_VS16, _CANCEL_TAG))


def key_of_emoji(emoji: str) -> str:
    """The key of an emoji written as characters ('🐱' -> '1F431')."""
    return codepoint_key("-".join(f"{ord(char):X}" for char in emoji))


def is_skin_tone_variant(key: str) -> bool:
    return any(part in SKIN_TONES for part in key.split("-"))
