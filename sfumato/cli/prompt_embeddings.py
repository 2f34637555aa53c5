"""What `sfumato prompt explain` shows of textual-inversion embeddings: their tokens, and which ones a prompt used."""

from __future__ import annotations

from typing import Any

import typer

from sfumato.errors import SfumatoError
from sfumato.models.embedding_files import EmbeddingInfo, describe, scan_embeddings
from sfumato.models.hashing import HashCache
from sfumato.models.library import ModelEntry, ModelKind, ModelLibrary
from sfumato.prompt.chunks import PromptChunk
from sfumato.prompt.embedding_words import EmbeddingLookup, EmbeddingWord
from sfumato.settings import Settings


def _library(ctx: typer.Context) -> ModelLibrary:
    # Without the root callback (the sub-app run on its own), the environment's settings apply.
    settings: Settings = ctx.obj.settings if ctx.obj is not None else Settings()
    return ModelLibrary(settings.model_roots(), HashCache(settings.cache_dir / "hashes.json"))


def model_entry(ctx: typer.Context, model: str) -> ModelEntry | None:
    """The library's entry for `model` (headers only), or None when it has no such model."""
    try:
        return _library(ctx).find(model, with_hashes=False)
    except SfumatoError:
        return None


def embedding_lookup(ctx: typer.Context, tokenizer: Any) -> tuple[EmbeddingLookup | None, dict[str, EmbeddingInfo]]:
    """The library's embeddings as trigger words (headers only; no model is loaded)."""
    infos, refused = scan_embeddings(_library(ctx).scan(ModelKind.EMBEDDING))
    words = [EmbeddingWord(name, info.vectors) for name, info in infos.items()]
    words += [EmbeddingWord(name, 1, error) for name, error in refused.items()]
    return (EmbeddingLookup(words, tokenizer) if words else None), infos


def show_tokens(tokenizer: Any, chunk: PromptChunk, infos: dict[str, EmbeddingInfo]) -> str:
    """A chunk's tokens with weights; an embedding shows once, as <name:N vectors>, over the positions it takes."""
    starts = {position: name for position, name in chunk.fixes}
    words = tokenizer.convert_ids_to_tokens(list(chunk.tokens))
    shown: list[str] = []
    position = 1
    while position < len(words) - 1:
        weight = chunk.multipliers[position]
        suffix = f"@{weight:.3g}" if weight != 1.0 else ""
        if position in starts:
            span = infos[starts[position]].vectors
            shown.append(f"<{starts[position]}:{span} vector{'s' if span != 1 else ''}>{suffix}")
            position += span
            continue
        if words[position] != "<|endoftext|>":
            shown.append(words[position].removesuffix("</w>") + suffix)
        position += 1
    return " ".join(shown)


def used_embeddings_lines(used: set[str], infos: dict[str, EmbeddingInfo], model: str,
                          ctx: typer.Context) -> list[str]:
    """One line per embedding the prompt used, and whether it fits `model`'s text encoders."""
    if not used:
        found = ", ".join(sorted(infos)) or "none"
        return [f"  embeddings: none used (in the library: {found})"]
    entry = model_entry(ctx, model)
    family = entry.family if entry is not None else None
    lines = []
    for name in sorted(used):
        info = infos[name]
        fit = "" if family is None or info.fits(family) else f" - does NOT fit {model} ({family.value})"
        lines.append(f"  embedding {name}: {describe(info)}, {info.path}{fit}")
    return lines
