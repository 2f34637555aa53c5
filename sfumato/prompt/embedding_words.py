"""Textual-inversion trigger words in tokenized prompts (torch-free), found as A1111's EmbeddingDatabase finds them.

A word matches where its own token ids appear in a fragment's ids; the longest word starting at a token wins.
The vectors themselves come from a `TextualInversions` provider (the engine's, reading the model library).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sfumato.errors import SfumatoError


@dataclass(frozen=True)
class EmbeddingWord:
    """A trigger word and how many token positions its vectors take; `refusal` is raised if a prompt uses it."""

    name: str
    vectors: int
    refusal: SfumatoError | None = field(default=None, compare=False)


class TextualInversions(Protocol):
    """The embeddings one job may use: their trigger words, and their vectors for one text encoder."""

    @property
    def words(self) -> tuple[EmbeddingWord, ...]: ...

    def vectors(self, name: str, part: str, width: int) -> Any:
        """(vectors, width) tensor of `name` for encoder `part` ("" for SD, clip_l / clip_g for SDXL).

        Raises RecipeError naming the file when its width is not `width`.
        """
        ...


class EmbeddingLookup:
    """Token ids -> trigger word, built once per prompt encoding from the words and the CLIP tokenizer."""

    def __init__(self, words: Iterable[EmbeddingWord], tokenizer: Any) -> None:
        by_first: dict[int, list[tuple[tuple[int, ...], EmbeddingWord]]] = {}
        for word in words:
            ids = tuple(tokenizer([word.name], truncation=False, add_special_tokens=False)["input_ids"][0])
            if ids:
                by_first.setdefault(ids[0], []).append((ids, word))
        # A1111 sorts each first-token bucket longest first, so "style-v2" wins over "style".
        self._by_first = {first: sorted(found, key=lambda item: -len(item[0])) for first, found in by_first.items()}

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def find_at(self, tokens: Sequence[int], position: int) -> tuple[EmbeddingWord, int] | None:
        """The word whose ids start at `position`, and how many ids it spans; None where none does."""
        for ids, word in self._by_first.get(tokens[position], ()):
            if tuple(tokens[position:position + len(ids)]) == ids:
                return word, len(ids)
        return None
