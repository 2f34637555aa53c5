"""Held-out concepts: subjects kept out of the embedded model's base training in every style.

DreamBooth teaches them later, so a demo can show a model learning a subject it has never seen.
Reasoning in docs/embedded-model-data.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sfumato.train.emoji.codepoints import codepoint_key


@dataclass(frozen=True)
class HoldoutConcept:
    name: str
    kind: Literal["animal", "food", "object"]
    # emojibase hexcodes: the concept's own emoji first, then near-duplicates that would leak it
    # (an "umbrella with rain drops" teaches umbrellas as well as "umbrella" does).
    codepoints: tuple[str, ...]


HOLDOUT_CONCEPTS: Final[tuple[HoldoutConcept, ...]] = (
    HoldoutConcept("otter", "animal", ("1F9A6",)),
    HoldoutConcept("hedgehog", "animal", ("1F994",)),
    HoldoutConcept("sloth", "animal", ("1F9A5",)),
    HoldoutConcept("flamingo", "animal", ("1F9A9",)),
    HoldoutConcept("kangaroo", "animal", ("1F998",)),
    HoldoutConcept("peacock", "animal", ("1F99A",)),
    HoldoutConcept("pineapple", "food", ("1F34D",)),
    HoldoutConcept("avocado", "food", ("1F951",)),
    HoldoutConcept("broccoli", "food", ("1F966",)),
    HoldoutConcept("pretzel", "food", ("1F968",)),
    HoldoutConcept("croissant", "food", ("1F950",)),
    HoldoutConcept("coconut", "food", ("1F965",)),
    HoldoutConcept("teapot", "object", ("1FAD6",)),
    HoldoutConcept("umbrella", "object", ("2602", "2614", "1F302", "26F1")),
    HoldoutConcept("kite", "object", ("1FA81",)),
    HoldoutConcept("anchor", "object", ("2693",)),
    HoldoutConcept("compass", "object", ("1F9ED",)),
    HoldoutConcept("telescope", "object", ("1F52D",)),
    HoldoutConcept("saxophone", "object", ("1F3B7",)),
    HoldoutConcept("hourglass", "object", ("231B", "23F3")),
)

# Join keys of every held-out codepoint; skin-tone variants share their base's key prefix and none
# of these concepts has one.
HOLDOUT_KEYS: Final[frozenset[str]] = frozenset(
    codepoint_key(code) for concept in HOLDOUT_CONCEPTS for code in concept.codepoints
)


def is_held_out(key: str) -> bool:
    """Whether a codepoint key belongs to a held-out concept."""
    return key in HOLDOUT_KEYS
