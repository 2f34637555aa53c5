"""Captions and file names: "a cat face, twemoji style" and "cat-face" from an emoji's label."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Words that start with a vowel letter but a consonant sound ("a unicorn"), and the reverse ("an hourglass").
_CONSONANT_SOUND: Final = ("uni", "one", "use", "eu", "ewe", "uk", "ufo")
_VOWEL_SOUND: Final = ("hour", "honest", "heir")


def slugify(label: str) -> str:
    """A file-name stem: ASCII, lower case, words joined by '-'.

    'Japanese “here” button' -> 'japanese-here-button'.
    """
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _article(label: str) -> str:
    """'a'/'an', or '' where an article would be wrong: names, numbers, plurals ("sparkles")."""
    first = label.split(" ", 1)[0]
    last = re.split(r"[\s:]+", label.strip())[-1].lower()
    if not first[:1].islower() or (last.endswith("s") and not last.endswith(("ss", "us", "is"))):
        return ""
    if " " not in label and label.endswith("ing"):  # an activity ("cooking"), not a thing
        return ""
    lowered = label.lower()
    if lowered.startswith(_VOWEL_SOUND):
        return "an"
    if lowered.startswith(_CONSONANT_SOUND):
        return "a"
    return "an" if lowered[0] in "aeiou" else "a"


def caption(label: str, style_words: str) -> str:
    """The training caption: the subject first, then the style words ('a cat face, twemoji style')."""
    article = _article(label)
    subject = f"{article} {label}" if article else label
    return f"{subject}, {style_words}"
