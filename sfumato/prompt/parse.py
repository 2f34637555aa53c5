"""Prompt text -> ParsedPrompt (torch-free): adapter tags out, AND sub-prompts, per-step schedules, weighted fragments.

The same pipeline A1111 runs before encoding: `extra_networks.parse_prompt`, `get_multicond_prompt_list`,
`get_learned_conditioning_prompt_schedules`, then `parse_prompt_attention` per scheduled text. Compel prompts go
through Compel's own grammar instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from sfumato.prompt.a1111 import (
    bracket_warnings,
    find_extra_network_tags,
    get_multicond_prompt_list,
    parse_extra_networks,
    parse_prompt_attention,
)
from sfumato.prompt.a1111_schedule import get_learned_conditioning_prompt_schedules
from sfumato.prompt.compel_syntax import Syntax, SyntaxChoice, parse_compel, resolve_syntax
from sfumato.prompt.errors import PromptError

# A1111 treats <lyco:...> as an alias of <lora:...>.
ADAPTER_KINDS: Final[Mapping[str, str]] = MappingProxyType({"lora": "lora", "lyco": "lora", "hypernet": "hypernet"})
# `(word:1,2)`: a weight A1111 silently reads as text at x1.1; almost always a typo for 1.2.
_BAD_WEIGHT: Final = re.compile(r":\s*([+-]?[\d.,][^\s()\[\]:]*)\s*\)")
_GOOD_WEIGHT: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")

Fragments = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class AdapterTag:
    """An extra-network tag taken out of the prompt: `<lora:NAME:WEIGHT>` (weight 1 when left out)."""

    kind: str
    name: str
    weight: float
    items: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleEntry:
    """The text in effect up to and including sampling step `end_at_step`, with its weighted fragments."""

    end_at_step: int
    text: str
    fragments: Fragments


@dataclass(frozen=True)
class SubPrompt:
    """One AND member (A1111) or `.and()` member (Compel), its weight and its schedule."""

    text: str
    weight: float
    schedule: tuple[ScheduleEntry, ...]


@dataclass(frozen=True)
class ParsedPrompt:
    """Everything the prompt stage reads from one prompt, before any tokenizer or model is involved."""

    text: str
    syntax: Syntax
    stripped_prompt: str
    adapters: tuple[AdapterTag, ...]
    sub_prompts: tuple[SubPrompt, ...]
    # A1111's AND is composable diffusion (one noise prediction per member); Compel's .and() concatenates
    # the members' conditionings along the token axis and .blend() sums them with its weights.
    combine: Literal["composable", "concatenate", "blend"]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: schedules as A1111's [end_at_step, text, [[fragment, weight], ...]]."""
        return {
            "prompt": self.text,
            "syntax": self.syntax,
            "stripped_prompt": self.stripped_prompt,
            "adapters": [{"kind": a.kind, "name": a.name, "weight": a.weight} for a in self.adapters],
            "combine": self.combine,
            "sub_prompts": [
                {"text": sub.text, "weight": sub.weight,
                 "schedule": [[e.end_at_step, e.text, [list(f) for f in e.fragments]] for e in sub.schedule]}
                for sub in self.sub_prompts
            ],
            "warnings": list(self.warnings),
        }


def parse_prompt(text: str, *, steps: int, syntax: SyntaxChoice = "auto", negative: bool = False,
                 first_pass_steps: int | None = None) -> ParsedPrompt:
    """Parse a prompt as the engine will read it over `steps` sampling steps.

    `first_pass_steps`: this is a hires fix's second pass after that many steps; as in A1111, `[a:b:N]` then
    counts on from the first pass (integers from its steps, fractions from 1.0).

    A negative prompt keeps its tags and `AND` as text, as in A1111 (a warning says so).
    Raises PromptError for a weight that is not a number, pointing at its column.
    """
    field = "negative_prompt" if negative else "prompt"
    if negative:
        stripped, adapters, warnings = text, (), _negative_tag_warnings(text)
    else:
        stripped, adapters = _strip_adapters(text, field)
        warnings = _repeated_tag_warnings(adapters)
    chosen = resolve_syntax(stripped, syntax)
    if chosen == "compel":
        parts, combine = parse_compel(stripped)
        subs = tuple(SubPrompt(p.text, p.weight, (ScheduleEntry(steps, p.text, p.fragments),)) for p in parts)
        notes = tuple(note for part in parts for note in part.notes)
        return ParsedPrompt(text, chosen, stripped, adapters, subs, combine, warnings + notes)
    _check_weights(stripped, field)
    members = [(stripped, 1.0)] if negative else _and_members(stripped)
    subs = tuple(SubPrompt(member, weight, _schedule(member, steps, first_pass_steps)) for member, weight in members)
    return ParsedPrompt(text, chosen, stripped, adapters, subs, "composable", warnings + bracket_warnings(stripped))


def _and_members(prompt: str) -> list[tuple[str, float]]:
    indexes, flat, _ = get_multicond_prompt_list([prompt])
    return [(flat[index], weight) for index, weight in indexes[0]]


def _schedule(text: str, steps: int, first_pass_steps: int | None = None) -> tuple[ScheduleEntry, ...]:
    entries = (get_learned_conditioning_prompt_schedules([text], steps) if first_pass_steps is None
               else get_learned_conditioning_prompt_schedules([text], first_pass_steps, steps))[0]
    return tuple(
        ScheduleEntry(int(end), str(scheduled), tuple((str(t), float(w)) for t, w in parse_prompt_attention(str(scheduled))))
        for end, scheduled in entries
    )


def _strip_adapters(text: str, field: str) -> tuple[str, tuple[AdapterTag, ...]]:
    stripped, _ = parse_extra_networks(text)
    return stripped, tuple(_adapter(tag, text, field) for tag in find_extra_network_tags(text))


def _adapter(tag: Any, text: str, field: str) -> AdapterTag:
    positional = [item for item in tag.items if "=" not in item]
    named = dict(item.split("=", 1) for item in tag.items if "=" in item)
    raw_weight = named.get("te", positional[1] if len(positional) > 1 else None)
    weight = 1.0
    if raw_weight is not None:
        try:
            weight = float(raw_weight)
        except ValueError as error:
            column = text.find(raw_weight, tag.start + len(tag.kind) + 2)
            raise PromptError(f"the {tag.kind} weight {raw_weight!r} is not a number", prompt=text,
                              column=max(column, tag.start), field=field,
                              hint=f"write <{tag.kind}:{positional[0] if positional else 'NAME'}:0.8>") from error
    name = positional[0] if positional else ""
    return AdapterTag(ADAPTER_KINDS.get(tag.kind, tag.kind), name, weight, tag.items)


def _repeated_tag_warnings(adapters: tuple[AdapterTag, ...]) -> tuple[str, ...]:
    # The first tag of a name gives the adapter (the infotext reader's rule, so a Recipe round-trips); A1111 would
    # apply each tag and add the weights, so a repeat with another weight (a style adding a typed LoRA) is said.
    weights: dict[tuple[str, str], list[float]] = {}
    for tag in adapters:
        weights.setdefault((tag.kind, tag.name), []).append(tag.weight)
    return tuple(
        f"<{kind}:{name}> is tagged {len(found)} times with weights {', '.join(map(str, found))}: only the first, "
        f"{found[0]}, is applied"
        for (kind, name), found in weights.items() if len(set(found)) > 1
    )


def _negative_tag_warnings(text: str) -> tuple[str, ...]:
    return tuple(
        f"column {tag.start + 1}: <{tag.kind}:...> in the negative prompt is not applied; A1111 reads it as text"
        for tag in find_extra_network_tags(text)
    )


def _check_weights(text: str, field: str) -> None:
    """`(word:1,2)` and friends: A1111 reads them as text, which is never what was meant."""
    for match in _BAD_WEIGHT.finditer(text):
        if "(" in text[:match.start()] and not _GOOD_WEIGHT.fullmatch(match.group(1)):
            raise PromptError(f"the weight {match.group(1)!r} is not a number", prompt=text,
                              column=match.start(1), field=field, hint="write a weight like (word:1.2)")
