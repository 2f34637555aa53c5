"""Textual-inversion vectors put in place of token embeddings for one text-encoder call, then taken out again.

A forward hook on the encoder's input-embedding layer replaces the rows under an embedding's placeholder ids
(A1111's EmbeddingsWithFixes). It lives only for the `with` block: the cached pipeline's tokenizer and weights
are never changed, so nothing leaks into the next recipe.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from sfumato.prompt.embedding_words import TextualInversions


@contextmanager
def inserted_vectors(model: Any, part: str, fixes: tuple[tuple[int, str], ...],
                     embeddings: TextualInversions | None) -> Iterator[None]:
    """While inside, `model`'s token embeddings at each fix's position are that embedding's vectors."""
    if not fixes or embeddings is None:
        yield
        return
    layer = model.get_input_embeddings()
    width = int(layer.embedding_dim)
    placed = [(position, embeddings.vectors(name, part, width)) for position, name in fixes]

    def replace_rows(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        rows = output.clone()  # (batch, 77, width)
        for position, vectors in placed:
            rows[:, position:position + vectors.shape[0]] = vectors.to(rows.device, rows.dtype)
        return rows

    handle = layer.register_forward_hook(replace_rows)
    try:
        yield
    finally:
        handle.remove()
