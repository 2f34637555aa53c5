"""A1111's CLIP chunking (torch-free): weighted fragments -> 77-token chunks (BOS + 75 + EOS) with per-token weights.

Each fragment is tokenized on its own; BREAK closes the chunk; a chunk that fills up within 20 tokens of its
last comma moves the words after that comma into the next chunk (A1111's "comma padding backtrack", default 20).
A textual-inversion word takes one position per vector and is never split across chunks (A1111's tokenize_line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sfumato.errors import RecipeError
from sfumato.prompt.embedding_words import EmbeddingLookup

CHUNK_LENGTH: Final = 75  # CLIP's 77 positions less BOS and EOS
COMMA_BACKTRACK: Final = 20  # A1111's default for opts.comma_padding_backtrack
BREAK_FRAGMENT: Final = ("BREAK", -1.0)
PLACEHOLDER_ID: Final = 0  # A1111's token id under an embedding's vectors (replaced before the transformer)


@dataclass(frozen=True)
class PromptChunk:
    """77 token ids (padded with EOS, as A1111) and the weight of each; `moved` counts tokens carried over at a comma.

    `fixes` are A1111's PromptChunkFix: (position among the 77, embedding name) where an embedding's vectors go.
    """

    tokens: tuple[int, ...]
    multipliers: tuple[float, ...]
    moved: int = 0
    fixes: tuple[tuple[int, str], ...] = ()


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
    fixes: list[tuple[int, str]] = field(default_factory=list)  # (offset in self.tokens, embedding name)

    def close(self, *, is_last: bool = False) -> None:
        self.token_count += len(self.tokens) if is_last else CHUNK_LENGTH
        padding = CHUNK_LENGTH - len(self.tokens)
        tokens = [self.bos, *self.tokens, *[self.eos] * padding, self.eos]
        weights = [1.0, *self.weights, *[1.0] * padding, 1.0]
        fixes = tuple((offset + 1, name) for offset, name in self.fixes)  # + 1: after BOS
        self.chunks.append(PromptChunk(tuple(tokens), tuple(weights), self.moved, fixes))
        self.tokens, self.weights, self.last_comma, self.moved, self.fixes = [], [], -1, 0, []

    def move_after_last_comma(self) -> None:
        cut = self.last_comma + 1
        carried, carried_weights = self.tokens[cut:], self.weights[cut:]
        # A1111 leaves the fixes behind here, so a carried embedding loses its vectors; they move with their tokens.
        carried_fixes = [(offset - cut, name) for offset, name in self.fixes if offset >= cut]
        self.fixes = [(offset, name) for offset, name in self.fixes if offset < cut]
        self.tokens, self.weights = self.tokens[:cut], self.weights[:cut]
        self.close()
        self.tokens, self.weights, self.moved, self.fixes = carried, carried_weights, len(carried), carried_fixes

    def add_embedding(self, name: str, vectors: int, weight: float) -> None:
        if len(self.tokens) + vectors > CHUNK_LENGTH:
            self.close()  # an embedding is never split across chunks
        self.fixes.append((len(self.tokens), name))
        self.tokens.extend([PLACEHOLDER_ID] * vectors)
        self.weights.extend([weight] * vectors)


def chunk_fragments(fragments: tuple[tuple[str, float], ...] | list[tuple[str, float]], tokenizer: Any,
                    embeddings: EmbeddingLookup | None = None) -> tuple[tuple[PromptChunk, ...], int]:
    """(chunks, token count) for `parse_prompt_attention` output; always at least one chunk.

    Raises the word's refusal (a pickle file, say) where the prompt uses an embedding that cannot be loaded.
    """
    comma = tokenizer.get_vocab().get(",</w>")
    builder = _Builder(bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    texts = [text for text, _ in fragments]
    tokenized = tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"] if texts else []
    for (text, weight), ids in zip(fragments, tokenized, strict=True):
        if (text, weight) == BREAK_FRAGMENT:
            builder.close()
            continue
        position = 0
        while position < len(ids):
            token = ids[position]
            if token == comma:
                builder.last_comma = len(builder.tokens)
            elif (len(builder.tokens) == CHUNK_LENGTH and builder.last_comma != -1
                  and len(builder.tokens) - builder.last_comma <= COMMA_BACKTRACK):
                builder.move_after_last_comma()
            if len(builder.tokens) == CHUNK_LENGTH:
                builder.close()
            found = embeddings.find_at(ids, position) if embeddings else None
            if found is None:
                builder.tokens.append(token)
                builder.weights.append(weight)
                position += 1
                continue
            word, length = found
            _check_usable(word.name, word.vectors, word.refusal)
            builder.add_embedding(word.name, word.vectors, weight)
            position += length
    if builder.tokens or not builder.chunks:
        builder.close(is_last=True)
    return tuple(builder.chunks), builder.token_count


def _check_usable(name: str, vectors: int, refusal: Exception | None) -> None:
    if refusal is not None:
        raise refusal
    if vectors > CHUNK_LENGTH:
        raise RecipeError(f"prompt: embedding {name!r} has {vectors} vectors; at most {CHUNK_LENGTH} fit in one "
                          "75-token chunk", field="prompt")


def load_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer from a local folder (no hub); transformers is imported only here."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(folder, local_files_only=True)
