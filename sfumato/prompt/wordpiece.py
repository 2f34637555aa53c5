"""What a BERT-encoded model (the embedded model's MiniLM) reads of a prompt: [CLS] tokens [SEP] in a fixed window.

Torch-free, so `sfumato prompt explain` shows exactly the tokens the engine encodes, and the ones the window cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WordpieceTokens:
    ids: tuple[int, ...]  # [CLS] kept tokens [SEP], unpadded
    weights: tuple[float, ...]  # one per id; 1.0 on [CLS] and [SEP]
    cut: tuple[int, ...]  # token ids past the window, which the model never sees

    @property
    def weighted(self) -> bool:
        return any(weight != 1.0 for weight in self.weights)


def wordpiece_tokens(tokenizer: Any, fragments: Sequence[tuple[str, float]], length: int) -> WordpieceTokens:
    """Unweighted text is tokenized whole, exactly as the embedded model saw its captions in training; weighted
    fragments one by one, so each token knows its weight. At most `length` positions, [CLS] and [SEP] included."""
    if all(weight == 1.0 for _, weight in fragments):
        pieces = list(tokenizer("".join(text for text, _ in fragments), add_special_tokens=False).input_ids)
        weights = [1.0] * len(pieces)
    else:
        pieces, weights = [], []
        for text, weight in fragments:
            ids = tokenizer(text, add_special_tokens=False).input_ids
            pieces, weights = pieces + list(ids), weights + [weight] * len(ids)
    room = max(0, length - 2)
    return WordpieceTokens(
        ids=(tokenizer.cls_token_id, *pieces[:room], tokenizer.sep_token_id),
        weights=(1.0, *weights[:room], 1.0),
        cut=tuple(pieces[room:]),
    )
