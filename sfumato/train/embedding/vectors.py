"""The vectors being learnt, and a `TextualInversions` provider that hands them to sfumato's prompt encoder.

Training encodes captions with `sfumato.prompt.encode.encode_fragments`, the very code generation uses: the token
is found by `EmbeddingLookup`, takes `vectors` positions, and `inserted_vectors` puts these parameters there
through the same forward hook, so gradients reach only them and what is trained is what generation reads back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sfumato.errors import RecipeError
from sfumato.prompt.embedding_words import EmbeddingWord
from sfumato.prompt.encode import PromptComponents


class LearnedVectors(torch.nn.Module):
    """One (vectors, width) parameter per text-encoder part: "" (SD 1.x/2.x), or clip_l and clip_g (SDXL)."""

    def __init__(self, initial: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        # ParameterDict keys cannot be "": the single encoder's part is stored as "emb_params", A1111's key.
        self.by_key = torch.nn.ParameterDict({_key(part): torch.nn.Parameter(value.detach().clone().float())
                                              for part, value in initial.items()})

    def part(self, part: str) -> torch.nn.Parameter:
        return self.by_key[_key(part)]

    def tensors(self) -> dict[str, torch.Tensor]:
        """File tensors in A1111's layout: {"emb_params": ...} or {"clip_l": ..., "clip_g": ...}."""
        return {key: value.detach().float().cpu().contiguous() for key, value in self.by_key.items()}


def _key(part: str) -> str:
    return part or "emb_params"


def initial_vectors(components: PromptComponents, init_word: str, vectors: int) -> dict[str, torch.Tensor]:
    """A1111's init: vector i is the init word's token embedding number i * tokens // vectors (zeros without one)."""
    initial = {}
    for slot in components.encoders:
        table = slot.model.get_input_embeddings().weight  # (vocabulary, width)
        ids = slot.tokenizer(init_word, add_special_tokens=False)["input_ids"][:vectors] if init_word else []
        if not ids:
            initial[slot.part] = torch.zeros(vectors, table.shape[1])
            continue
        with torch.no_grad():
            rows = table[torch.tensor(ids, device=table.device)].float().cpu()
        initial[slot.part] = torch.stack([rows[i * len(ids) // vectors] for i in range(vectors)])
    return initial


class TrainedInversion:
    """The TextualInversions of a run: one word, the token, whose vectors are the trainable parameters."""

    def __init__(self, token: str, learned: LearnedVectors, count: int) -> None:
        self.token, self.learned, self.count = token, learned, count

    @property
    def words(self) -> tuple[EmbeddingWord, ...]:
        return (EmbeddingWord(self.token, self.count),)

    def vectors(self, name: str, part: str, width: int) -> Any:
        vectors = self.learned.part(part)
        if vectors.shape[1] != width:  # cannot happen for vectors made from this encoder; guards a resumed file
            raise RecipeError(f"prompt: embedding {name!r} has width {vectors.shape[1]}, the encoder takes {width}",
                              field="prompt")
        return vectors
