"""Compel / InvokeAI prompt syntax (torch-free): which syntax a prompt is written in, and Compel's own parse of it.

The parse is the `compel` package's own grammar (compel.prompt_parser, pyparsing only), loaded without the
package `__init__`, which would import torch and diffusers: `sfumato prompt parse` must stay fast.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal

from sfumato.prompt.errors import PromptError

Syntax = Literal["a1111", "compel"]
SyntaxChoice = Literal["auto", "a1111", "compel"]

# Rules of detect_syntax, in words: a prompt is Compel when it uses a Compel-only construct and no A1111-only one.
COMPEL_MARKERS: Final = (
    re.compile(r"[A-Za-z](?:\+{1,}|-{1,})(?=[\s,.;)]|$)"),  # word+ word++ word- (not "sci-fi", not "C18+")
    re.compile(r"\)(?:\+{1,}|-{1,})"),  # (several words)++
    re.compile(r"\)[+-]?(?:\d+\.?\d*|\.\d+)"),  # (words)1.3
    re.compile(r"\.(?:and|blend|swap)\("),  # ("a", "b").and() / .blend() / .swap()
)
A1111_MARKERS: Final = (
    re.compile(r":\s*[+-]?[.\d]+\s*\)"),  # (word:1.3)
    re.compile(r"\["),  # [de-emphasis], [a:b:when], [a|b]
    re.compile(r"\bAND\b"),
    re.compile(r"\bBREAK\b"),
)


def detect_syntax(text: str) -> Syntax:
    """"compel" when the prompt uses a Compel-only construct and no A1111-only one; otherwise "a1111".

    Compel-only: `word+`/`word-` (signs right after a letter), `(...)++`, `(...)1.3`, `.and(`/`.blend(`/`.swap(`.
    A1111-only: `(x:1.3)`, any `[`, `AND`, `BREAK`. Plain prompts mean the same in both and count as "a1111".
    """
    if any(marker.search(text) for marker in A1111_MARKERS):
        return "a1111"
    return "compel" if any(marker.search(text) for marker in COMPEL_MARKERS) else "a1111"


def resolve_syntax(text: str, choice: SyntaxChoice) -> Syntax:
    """The syntax to read `text` with: the explicit choice, or `detect_syntax` for "auto"."""
    return detect_syntax(text) if choice == "auto" else choice


def _compel_grammar() -> ModuleType:
    spec = importlib.util.find_spec("compel")
    if spec is None or not spec.submodule_search_locations:
        raise PromptError("Compel syntax needs the 'compel' package, which is not installed", prompt="", column=0,
                          hint="pip install compel, or write the prompt in A1111 syntax")
    path = Path(next(iter(spec.submodule_search_locations))) / "prompt_parser.py"
    module_spec = importlib.util.spec_from_file_location("sfumato_compel_grammar", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class CompelPart:
    """One prompt of a Compel conjunction: its text, its `.and()` weight and its weighted fragments."""

    text: str
    weight: float
    fragments: tuple[tuple[str, float], ...]
    notes: tuple[str, ...] = ()


def parse_compel(text: str) -> tuple[tuple[CompelPart, ...], Literal["concatenate", "blend"]]:
    """Compel's parse of `text`, flattened, and how its parts combine.

    One part per `.and()` member ("concatenate" along the token axis); a lone `.blend()` gives one part per
    member with its blend weight ("blend": a weighted sum of their conditionings).

    Raises PromptError (with the column) where Compel's grammar rejects the prompt.
    """
    grammar = _compel_grammar()
    try:
        conjunction = grammar.PromptParser().parse_conjunction(text)
    except Exception as error:  # pyparsing's ParseException or compel's ParsingException: both carry no column API
        column = int(getattr(error, "loc", 0) or 0)
        raise PromptError(f"Compel cannot parse this prompt ({error})", prompt=text, column=min(column, len(text)),
                          hint="check quotes and brackets, or write the prompt in A1111 syntax") from error
    prompts = conjunction.prompts
    if len(prompts) == 1 and type(prompts[0]).__name__ == "Blend":
        members = zip(prompts[0].prompts, prompts[0].weights, strict=True)
        return tuple(_flattened(member, float(share)) for member, share in members), "blend"
    return tuple(_flattened(p, float(w)) for p, w in zip(prompts, conjunction.weights, strict=True)), "concatenate"


def _flattened(prompt: Any, weight: float) -> CompelPart:
    if type(prompt).__name__ == "Blend":  # a .blend() inside .and(): listed by its members' fragments
        inner = [_flattened(member, 1.0) for member in prompt.prompts]
        return CompelPart(" | ".join(part.text for part in inner), weight,
                          tuple(fragment for part in inner for fragment in part.fragments),
                          ("a .blend() inside .and() is listed by its members' fragments",))
    fragments: list[tuple[str, float]] = []
    extra: list[str] = []
    for child in prompt.children:
        if hasattr(child, "original"):  # .swap(): cross-attention control, which the engine does not do
            fragments.extend((part.text, float(part.weight)) for part in child.original)
            edited = " ".join(part.text for part in child.edited)
            extra.append(f".swap() to {edited!r} is not applied: only the original text conditions the picture")
        else:
            fragments.append((child.text, float(child.weight)))
    text = " ".join(fragment for fragment, _ in fragments)
    return CompelPart(text, float(weight), tuple(fragments), tuple(extra))
