"""A1111 prompt editing `[a:b:when]` and alternation `[a|b]` (torch-free): prompt -> [[end_at_step, text], ...].

A hand-written parser for the language of A1111's schedule grammar: at the top level a bracket that does not
close into a well-formed group is kept as text; inside a group everything must be well formed; a `|` outside an
alternation, or a backslash ending the prompt, makes the whole prompt plain text (one entry, no schedule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# lark's SIGNED_NUMBER, which A1111's grammar uses for `when`: sign, int or decimal, optional exponent.
_NUMBER: Final = re.compile(r"\s*([+-]?(?:(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+))\s*")
_STOPS: Final = frozenset(":|])")


@dataclass(frozen=True)
class Scheduled:
    """`[before:after:when]`; `before` is None for the `[after:when]` form."""

    before: tuple[Node, ...] | None
    after: tuple[Node, ...]
    when: str  # the number as written: "." in it means a fraction of the steps


@dataclass(frozen=True)
class Alternate:
    """`[a|b|...]`: option (step - 1) % len(options) at each step; an option may be empty."""

    options: tuple[tuple[Node, ...], ...]


Node = str | Scheduled | Alternate


class _NotAGroup(Exception):
    """A bracket that does not close into a well-formed group (internal: the top level keeps it as text)."""


class _Unparseable(Exception):
    """The prompt is outside the grammar (a stray `|`, a trailing backslash); A1111 then uses it as is."""


def parse_schedule_tree(prompt: str) -> tuple[Node, ...] | None:
    """The prompt as text pieces and groups, or None where A1111's parser rejects it."""
    nodes: list[Node] = []
    position = 0
    try:
        while position < len(prompt):
            char = prompt[position]
            if char == "|":
                raise _Unparseable
            if char in "[(":
                try:
                    group, position = _group(prompt, position)
                    nodes.extend(group)
                    continue
                except _NotAGroup:
                    pass
            if char in "[]():":
                nodes.append(char)
                position += 1
                continue
            piece, position = _plain(prompt, position)
            nodes.append(piece)
    except (_Unparseable, _NotAGroup):
        return None
    return tuple(nodes)


def _plain(prompt: str, position: int) -> tuple[str, int]:
    """One plain character, or a backslash with the character it escapes (kept as written)."""
    if prompt[position] != "\\":
        return prompt[position], position + 1
    if position + 1 >= len(prompt) or prompt[position + 1] == "\n":
        raise _Unparseable
    return prompt[position:position + 2], position + 2


def _prompt(prompt: str, position: int) -> tuple[list[Node], int]:
    """Nodes up to the next `:`, `|`, `]` or `)` at this level; brackets inside must be well-formed groups."""
    nodes: list[Node] = []
    while position < len(prompt) and prompt[position] not in _STOPS:
        if prompt[position] in "[(":
            group, position = _group(prompt, position)
            nodes.extend(group)
        else:
            piece, position = _plain(prompt, position)
            nodes.append(piece)
    return nodes, position


def _expect(prompt: str, position: int) -> str:
    if position >= len(prompt):
        raise _NotAGroup
    return prompt[position]


def _group(prompt: str, position: int) -> tuple[list[Node], int]:
    """A group starting at `(` or `[`: emphasis stays text (with its groups inside), the rest become nodes."""
    opener = prompt[position]
    first, position = _prompt(prompt, position + 1)
    separator = _expect(prompt, position)
    if opener == "(":
        if separator == ")":
            return ["(", *first, ")"], position + 1
        if separator != ":":
            raise _NotAGroup
        second, position = _prompt(prompt, position + 1)
        if _expect(prompt, position) != ")":
            raise _NotAGroup
        return ["(", *first, ":", *second, ")"], position + 1
    if separator == "]":
        return ["[", *first, "]"], position + 1
    if separator == "|":
        return _alternate(prompt, position, first)
    if separator != ":":
        raise _NotAGroup
    return _scheduled(prompt, position + 1, first)


def _alternate(prompt: str, position: int, first: list[Node]) -> tuple[list[Node], int]:
    options = [tuple(first)]
    while _expect(prompt, position) == "|":
        option, position = _prompt(prompt, position + 1)
        options.append(tuple(option))
    if _expect(prompt, position) != "]":
        raise _NotAGroup
    return [Alternate(tuple(options))], position + 1


def _scheduled(prompt: str, position: int, first: list[Node]) -> tuple[list[Node], int]:
    """After `[first:`: either `when]` (the `[after:when]` form) or `after:when]`."""
    start = position
    second, position = _prompt(prompt, position)
    separator = _expect(prompt, position)
    if separator == "]":
        number = _NUMBER.fullmatch(prompt, start, position)
        if number is None:
            raise _NotAGroup
        return [Scheduled(None, tuple(first), number.group(1))], position + 1
    if separator != ":":
        raise _NotAGroup
    number = _NUMBER.match(prompt, position + 1)
    if number is None or _expect(prompt, number.end()) != "]":
        raise _NotAGroup
    return [Scheduled(tuple(first), tuple(second), number.group(1))], number.end() + 1


@dataclass(frozen=True)
class _Steps:
    """How `when` numbers become steps: A1111's offsets for the hires pass and its old scheduling."""

    steps: int
    int_offset: int = 0
    float_offset: float = 0.0
    old_scheduling: bool = False

    def end_step(self, when: str) -> int:
        value = float(when)  # "1e999" is inf: clamped below, where A1111's int() would crash
        if self.old_scheduling:
            value = value * self.steps if value < 1 else value
        elif "." in when:
            value = (value - self.float_offset) * self.steps
        else:
            value = value - self.int_offset
        # Clamping to [-1, steps] keeps every comparison A1111 makes (ends below 1 never come first).
        return int(max(-1.0, min(float(self.steps), value)))


def _boundaries(nodes: tuple[Node, ...], steps: _Steps, found: set[int]) -> None:
    for node in nodes:
        if isinstance(node, Scheduled):
            end = steps.end_step(node.when)
            if end >= 1:
                found.add(end)
            _boundaries(node.before or (), steps, found)
            _boundaries(node.after, steps, found)
        elif isinstance(node, Alternate):
            found.update(range(1, steps.steps + 1))
            for option in node.options:
                _boundaries(option, steps, found)


def render_at_step(nodes: tuple[Node, ...], step: int, steps: _Steps) -> str:
    """The prompt text in effect at `step` (1-based, as A1111 counts in schedules)."""
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, Scheduled):
            chosen = (node.before or ()) if step <= steps.end_step(node.when) else node.after
            parts.append(render_at_step(chosen, step, steps))
        else:
            parts.append(render_at_step(node.options[(step - 1) % len(node.options)], step, steps))
    return "".join(parts)


def get_learned_conditioning_prompt_schedules(prompts: list[str], base_steps: int, hires_steps: int | None = None,
                                              use_old_scheduling: bool = False) -> list[list[list[int | str]]]:
    """For each prompt, [[end_at_step, text], ...]: the text used up to and including each end step.

    Integers in `[a:b:N]` are steps; numbers with a "." are fractions of the steps. In the hires pass
    (`hires_steps` given) integers count on from `base_steps` and fractions from 1.0, as in A1111.
    """
    if hires_steps is None or use_old_scheduling:
        rule = _Steps(base_steps, old_scheduling=use_old_scheduling)
    else:
        rule = _Steps(hires_steps, int_offset=base_steps, float_offset=1.0)
    return [_schedule(prompt, rule) for prompt in prompts]


def _schedule(prompt: str, rule: _Steps) -> list[list[int | str]]:
    nodes = parse_schedule_tree(prompt)
    if nodes is None:
        return [[rule.steps, prompt]]
    ends = {rule.steps}
    _boundaries(nodes, rule, ends)
    return [[end, render_at_step(nodes, end, rule)] for end in sorted(ends)]
