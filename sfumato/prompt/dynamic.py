"""Dynamic prompts: `{a|b}` variants, `{2$$a|b|c}`, `__wildcard__` files, resolved with the `dynamicprompts` library.

Seeding follows the sd-dynamic-prompts A1111 extension: in random mode picture i's prompt is drawn after seeding
the generator with the picture's own seed (seed + i), so any one picture's prompt can be drawn again on its own;
combinatorial mode lists every combination in the library's order. Wildcards come from one folder laid out as
the extension's (`colors/warm.txt` is `__colors/warm__`; `.yaml`/`.json` files hold nested lists).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, Literal

from dynamicprompts.commands import Command, LiteralCommand, WildcardCommand
from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
from dynamicprompts.parser.parse import parse
from dynamicprompts.wildcards import WildcardManager
from pyparsing import ParseBaseException

from sfumato.prompt.errors import PromptError

DynamicMode = Literal["random", "combinatorial"]
DYNAMIC_MODES: Final[tuple[DynamicMode, ...]] = ("random", "combinatorial")
WILDCARDS_FOLDER: Final = "wildcards"
MAX_COMBINATIONS: Final = 1000  # a person asking for more pictures than this from one template likely mistyped
_WRAP: Final = "__"
# What the library leaves in the text for a wildcard it found no values for: the name, wrapped again.
_LEFT_WILDCARD: Final = re.compile(r"__([^\s_](?:[^\s]*?[^\s_])?)__")


class TemplateError(PromptError):
    """A template the dynamic-prompts grammar cannot read (an unclosed `{`, a bad `$$` range, ...)."""


class UnknownWildcard(PromptError):
    """A `__name__` with no wildcard file (or YAML/JSON key) of that name in the wildcards folder."""


def wildcards_folder(home: Path) -> Path:
    return home / WILDCARDS_FOLDER


def is_template(text: str, *, field: str = "prompt") -> bool:
    """True when `text` holds variants or wildcards; plain prompts are never passed through the library.

    The library also reads `#` as a comment and `$$` specially: a prompt without `{` or `__` keeps those as typed.
    """
    if "{" not in text and _WRAP not in text:
        return False
    command = _parse(text, field=field)
    return not (isinstance(command, LiteralCommand) and command.literal == text)


def _parse(text: str, *, field: str) -> object:
    try:
        return parse(text)
    except ParseBaseException as error:
        raise TemplateError(f"cannot read the template ({error.msg})", prompt=text, column=error.loc,
                            field=field, hint="variants look like {red|green|blue} or {2$$a|b|c}; "
                            "wildcards like __colors/warm__") from error


def _manager(folder: Path) -> WildcardManager:
    # A missing folder is no wildcards at all (the library would warn on every prompt); unknown names then
    # fail with UnknownWildcard, which says which folder was searched.
    return WildcardManager(folder if folder.is_dir() else None)


def _wildcard_names(command: object) -> Iterator[str]:
    """Names of the wildcards a parsed template uses by a fixed name (`__colors/{warm|cold}__` has none)."""
    if isinstance(command, WildcardCommand) and isinstance(command.wildcard, str):
        yield command.wildcard
    if isinstance(command, (list, tuple)):
        for item in command:
            yield from _wildcard_names(item)
    elif dataclasses.is_dataclass(command) and not isinstance(command, type):
        for field in dataclasses.fields(command):
            value = getattr(command, field.name)
            if isinstance(value, (Command, list, tuple)) or dataclasses.is_dataclass(value):
                yield from _wildcard_names(value)


def _check_names(template: str, manager: WildcardManager, folder: Path, *, field: str) -> None:
    # Before sampling: the combinatorial sampler never ends on a wildcard without values. Values are followed
    # into the files they name, so a missing wildcard two files deep is found too.
    pending, seen = list(_wildcard_names(_parse(template, field=field))), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        values = manager.get_values(name)
        if not values:
            _unknown(template, name, folder, field=field)
        for value in values.items:
            text = str(value)  # a str, or a WildcardItem whose str() is its text
            if _WRAP in text:
                pending.extend(_wildcard_names(_parse(text, field="wildcard value")))


def _unknown(template: str, name: str, folder: Path, *, field: str) -> None:
    wrapped = f"{_WRAP}{name}{_WRAP}"
    column = template.find(wrapped)
    where = "" if column >= 0 else " (named inside another wildcard's values)"
    raise UnknownWildcard(
        f"unknown wildcard {wrapped!r}{where}: no {name}.txt, {name}.yaml or {name}.json (or key) in "
        f"{str(folder)!r}", prompt=template, column=max(column, 0), field=field,
        hint=f"wildcards there: {_known(folder)}",
    )


def _check_wildcards(template: str, results: Sequence[str], folder: Path, *, field: str) -> None:
    # The library logs and leaves `__name__` in place for a wildcard it cannot find; a person needs an error.
    for text in results:
        if (match := _LEFT_WILDCARD.search(text)) is not None:
            _unknown(template, match[1], folder, field=field)


def _known(folder: Path) -> str:
    names = sorted(_manager(folder).get_collection_names()) if folder.is_dir() else []
    shown = ", ".join(f"__{name}__" for name in names[:20]) + (" ..." if len(names) > 20 else "")
    return shown or "none (the folder is missing or empty)"


def resolve_random(template: str, seeds: Sequence[int], folder: Path, *, field: str = "prompt") -> list[str]:
    """One prompt per seed: prompt i is drawn with the generator seeded by seeds[i] (the extension's rule)."""
    if not seeds:
        return []
    manager = _manager(folder)
    _check_names(template, manager, folder, field=field)
    generator = RandomPromptGenerator(manager, seed=seeds[0])
    results = generator.generate(template, len(seeds), seeds=list(seeds))
    _check_wildcards(template, results, folder, field=field)
    return results


def _first_combinations(template: str, folder: Path, *, field: str, count: int) -> list[str]:
    manager = _manager(folder)
    _check_names(template, manager, folder, field=field)
    results = CombinatorialPromptGenerator(manager).generate(template, max_prompts=count)
    _check_wildcards(template, results, folder, field=field)
    return results


def resolve_combinatorial(template: str, folder: Path, *, field: str = "prompt",
                          limit: int = MAX_COMBINATIONS) -> list[str]:
    """Every combination, in the library's order; more than `limit` is refused with the count named."""
    results = _first_combinations(template, folder, field=field, count=limit + 1)
    if len(results) > limit:
        raise TemplateError(
            f"the template makes more than {limit} combinations; use random mode or fewer variants",
            prompt=template, column=0, field=field)
    return results


@dataclass(frozen=True)
class TemplateInfo:
    """What `prompt parse` / `explain` say about a template: its combinations and the first of them."""

    template: str
    combinations: int  # counted up to MAX_COMBINATIONS + 1: that number means "more than MAX_COMBINATIONS"
    first: str

    @property
    def shown_count(self) -> str:
        return f"more than {MAX_COMBINATIONS}" if self.combinations > MAX_COMBINATIONS else str(self.combinations)

    def to_dict(self) -> dict[str, object]:
        return {"template": self.template, "combinations": self.combinations, "first_combination": self.first}


def template_info(text: str, folder: Path) -> TemplateInfo | None:
    """None for a plain prompt; for a template, its combination count (errors as in generation)."""
    if not is_template(text):
        return None
    combinations = _first_combinations(text, folder, field="prompt", count=MAX_COMBINATIONS + 1)
    return TemplateInfo(text, len(combinations), combinations[0] if combinations else "")
