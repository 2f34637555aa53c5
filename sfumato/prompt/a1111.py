"""AUTOMATIC1111 prompt syntax (torch-free): emphasis, BREAK, AND sub-prompts and `<lora:...>` extra-network tags.

Each public function returns exactly what the A1111 (v1.10) function of the same name returns, so prompts written
for A1111 mean the same here. Prompt editing and alternation live in `a1111_schedule.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sfumato.prompt.errors import PromptError

ROUND_MULTIPLIER: Final = 1.1
SQUARE_MULTIPLIER: Final = 1 / 1.1
BREAK_WEIGHT: Final = -1.0  # A1111 marks a BREAK as the pair ["BREAK", -1]

# `:weight)` closing a round bracket; A1111 accepts any run of digits and dots here, so "1.2.3" is a crash there
# and a PromptError here.
_WEIGHT_CLOSE: Final = re.compile(r":\s*([+-]?[.\d]+)\s*\)")
_PLAIN_RUN: Final = re.compile(r"[^\\()\[\]:]+")
_BREAK: Final = re.compile(r"\s*\bBREAK\b\s*", re.DOTALL)
_ESCAPABLE: Final = frozenset("()[]\\")
_AND: Final = re.compile(r"\bAND\b")
_AND_WEIGHT: Final = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")
_EXTRA_NETWORK: Final = re.compile(r"<(\w+):([^>]+)>")


class _Attention:
    """The running state of one parse: fragments so far and the open brackets (indices into the fragments)."""

    def __init__(self) -> None:
        self.fragments: list[list[str | float]] = []
        self.round: list[int] = []
        self.square: list[int] = []

    def multiply(self, start: int, multiplier: float) -> None:
        for fragment in self.fragments[start:]:
            fragment[1] = float(fragment[1]) * multiplier

    def add_text(self, text: str) -> None:
        for index, part in enumerate(_BREAK.split(text)):
            if index:
                self.fragments.append(["BREAK", BREAK_WEIGHT])
            self.fragments.append([part, 1.0])


def parse_prompt_attention(text: str) -> list[list[str | float]]:
    """[[text, weight], ...]: `(x)` x1.1, `(x:w)` xw, `[x]` /1.1, `\\(` literal, BREAK as ["BREAK", -1].

    Unclosed brackets weigh everything to the end (as A1111); runs of equal weights are merged.
    Raises PromptError where A1111 raises ValueError: a `(x:w)` weight made of digits and dots that is no number.
    """
    state = _Attention()
    position = 0
    while position < len(text):
        position = _attention_step(state, text, position)
    for start in state.round:
        state.multiply(start, ROUND_MULTIPLIER)
    for start in state.square:
        state.multiply(start, SQUARE_MULTIPLIER)
    return _merge_equal_weights(state.fragments or [["", 1.0]])


def _attention_step(state: _Attention, text: str, position: int) -> int:
    """Consume one token of `text` at `position`; return where the next one starts."""
    char = text[position]
    if char == "\\":
        escaped = position + 1 < len(text) and text[position + 1] in _ESCAPABLE
        # A lone backslash (before anything but a bracket or a backslash) vanishes, as in A1111.
        state.fragments.append([text[position + 1] if escaped else "", 1.0])
        return position + (2 if escaped else 1)
    if char in "([":
        (state.round if char == "(" else state.square).append(len(state.fragments))
        return position + 1
    if char == ":":
        match = _WEIGHT_CLOSE.match(text, position)
        if match is None:
            state.add_text(":")
            return position + 1
        if state.round:
            state.multiply(state.round.pop(), _weight(text, match))
        else:
            state.add_text(match.group(0))
        return match.end()
    if char in ")]":
        brackets = state.round if char == ")" else state.square
        if brackets:
            state.multiply(brackets.pop(), ROUND_MULTIPLIER if char == ")" else SQUARE_MULTIPLIER)
        else:
            state.add_text(char)
        return position + 1
    match = _PLAIN_RUN.match(text, position)
    assert match is not None  # every other character starts a plain run
    state.add_text(match.group(0))
    return match.end()


def _weight(text: str, match: re.Match[str]) -> float:
    try:
        return float(match.group(1))
    except ValueError as error:
        raise PromptError(f"the weight {match.group(1)!r} is not a number", prompt=text, column=match.start(1),
                          hint="write a weight like (word:1.2)") from error


def _merge_equal_weights(fragments: list[list[str | float]]) -> list[list[str | float]]:
    merged = [list(fragments[0])]
    for text, weight in fragments[1:]:
        if merged[-1][1] == weight:
            merged[-1][0] = str(merged[-1][0]) + str(text)
        else:
            merged.append([text, weight])
    return merged


def get_multicond_prompt_list(prompts: list[str]) -> tuple[list[list[tuple[int, float]]], list[str], dict[str, int]]:
    """Split each prompt at `AND` into sub-prompts with an optional trailing `:weight`, as A1111.

    Returns (per prompt: [(index into the flat list, weight)], the flat list of distinct sub-prompts, text -> index).
    """
    indexes_per_prompt: list[list[tuple[int, float]]] = []
    flat: list[str] = []
    index_of: dict[str, int] = {}
    for prompt in prompts:
        indexes: list[tuple[int, float]] = []
        for sub_prompt in _AND.split(prompt):
            match = _AND_WEIGHT.search(sub_prompt)
            text, weight = match.groups() if match is not None else (sub_prompt, None)
            if text not in index_of:
                index_of[text] = len(flat)
                flat.append(text)
            indexes.append((index_of[text], 1.0 if weight is None else float(weight)))
        indexes_per_prompt.append(indexes)
    return indexes_per_prompt, flat, index_of


def parse_extra_networks(prompt: str) -> tuple[str, dict[str, list[list[str]]]]:
    """A1111's `extra_networks.parse_prompt`: remove every `<kind:arg:arg...>` tag; kind -> [args per tag]."""
    found: dict[str, list[list[str]]] = {}

    def remove(match: re.Match[str]) -> str:
        found.setdefault(match.group(1), []).append(match.group(2).split(":"))
        return ""

    return _EXTRA_NETWORK.sub(remove, prompt), found


@dataclass(frozen=True)
class ExtraNetworkTag:
    """One `<kind:name:weight...>` tag and where it stood in the prompt."""

    kind: str
    items: tuple[str, ...]
    start: int
    end: int


def find_extra_network_tags(prompt: str) -> tuple[ExtraNetworkTag, ...]:
    """The tags `parse_extra_networks` removes, with their positions (for messages that point at them)."""
    return tuple(
        ExtraNetworkTag(match.group(1), tuple(match.group(2).split(":")), match.start(), match.end())
        for match in _EXTRA_NETWORK.finditer(prompt)
    )


def bracket_warnings(text: str) -> tuple[str, ...]:
    """Brackets A1111 reads leniently: an unclosed one weighs everything after it, a stray closer is literal text."""
    open_brackets: list[tuple[str, int]] = []
    warnings: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char in "([":
            open_brackets.append((char, position))
        elif char in ")]":
            wanted = "(" if char == ")" else "["
            opener = next((i for i in range(len(open_brackets) - 1, -1, -1) if open_brackets[i][0] == wanted), None)
            if opener is None:
                warnings.append(f"column {position + 1}: {char!r} closes nothing; it is kept as text")
            else:
                del open_brackets[opener]
        position += 1
    warnings.extend(
        f"column {where + 1}: {char!r} is never closed; it weighs everything after it" for char, where in open_brackets
    )
    return tuple(warnings)
