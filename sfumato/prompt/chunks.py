"""A1111's CLIP chunking (torch-free): weighted fragments -> 77-token chunks (BOS + 75 + EOS) with per-token weights.

Each fragment is tokenized on its own; BREAK closes the chunk; a chunk that fills up within 20 tokens of its
last comma moves the words after that comma into the next chunk (A1111's "comma padding backtrack", default 20).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

CHUNK_LENGTH: Final = 75  # CLIP's 77 positions less BOS and EOS
COMMA_BACKTRACK: Final = 20  # A1111's default for opts.comma_padding_backtrack
BREAK_FRAGMENT: Final = ("BREAK", -1.0)


@dataclass(frozen=True)
class PromptChunk:
    """77 token ids (padded with EOS, as A1111) and the weight of each; `moved` counts tokens carried over at a comma."""

    tokens: tuple[int, ...]
    multipliers: tuple[float, ...]
    moved: int = 0


@dataclass
class _Builder:
    """Mutable while one prompt is chunked; only frozen PromptChunks leave this module."""

    bos: int
    eos: int
    chunks: list[PromptChunk] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    last_comma: int = -1
    token_count: int = 0
    moved: int = 0

    def close(self, *, is_last: bool = False) -> None:
        self.token_count += len(self.tokens) if is_last else CHUNK_LENGTH
        padding = CHUNK_LENGTH - len(self.tokens)
        tokens = [self.bos, *self.tokens, *[self.eos] * padding, self.eos]
        weights = [1.0, *self.weights, *[1.0] * padding, 1.0]
        self.chunks.append(PromptChunk(tuple(tokens), tuple(weights), self.moved))
        self.tokens, self.weights, self.last_comma, self.moved = [], [], -1, 0

    def move_after_last_comma(self) -> None:
        cut = self.last_comma + 1
        carried, carried_weights = self.tokens[cut:], self.weights[cut:]
        self.tokens, self.weights = self.tokens[:cut], self.weights[:cut]
        self.close()
        self.tokens, self.weights, self.moved = carried, carried_weights, len(carried)


def chunk_fragments(fragments: tuple[tuple[str, float], ...] | list[tuple[str, float]], tokenizer: Any
                    ) -> tuple[tuple[PromptChunk, ...], int]:
    """(chunks, token count) for `parse_prompt_attention` output; always at least one chunk."""
    comma = tokenizer.get_vocab().get(",</w>")
    builder = _Builder(bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    texts = [text for text, _ in fragments]
    tokenized = tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"] if texts else []
    for (text, weight), ids in zip(fragments, tokenized, strict=True):
        if (text, weight) == BREAK_FRAGMENT:
            builder.close()
            continue
        for token in ids:
            if token == comma:
                builder.last_comma = len(builder.tokens)
            elif (len(builder.tokens) == CHUNK_LENGTH and builder.last_comma != -1
                  and len(builder.tokens) - builder.last_comma <= COMMA_BACKTRACK):
                builder.move_after_last_comma()
            if len(builder.tokens) == CHUNK_LENGTH:
                builder.close()
            builder.tokens.append(token)
            builder.weights.append(weight)
    if builder.tokens or not builder.chunks:
        builder.close(is_last=True)
    return tuple(builder.chunks), builder.token_count


def load_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer from a local folder (no hub); transformers is imported only here."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(folder, local_files_only=True)
