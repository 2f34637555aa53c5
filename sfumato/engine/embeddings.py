"""The textual-inversion embeddings of one job: found in the model library, loaded on first use, recorded on the Recipe.

`LibraryEmbeddings` is the prompt stage's `TextualInversions`: trigger words from the files' headers, vectors read
(and their width checked against the encoder) only for words a prompt uses. The Recipe records each embedding
used as an adapter of kind "embedding" with A1111's 12-hex sha256 ("TI hashes"), and a Recipe that records one
is refused when the file has changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch
from safetensors.torch import load_file

from sfumato.errors import ModelNotFound, RecipeError, SfumatoError
from sfumato.models.embedding_files import EmbeddingInfo, scan_embeddings
from sfumato.models.library import ModelKind, ModelLibrary
from sfumato.prompt.embedding_words import EmbeddingWord
from sfumato.recipe import AdapterRef, Recipe

HASH_LENGTH = 12  # A1111's TI hashes: the first 12 hex of the file's sha256


@dataclass(frozen=True)
class LibraryEmbeddings:
    """Every embedding file the library finds, by trigger word; the first file of a name wins."""

    infos: Mapping[str, EmbeddingInfo]
    refused: Mapping[str, SfumatoError]
    hash_of: Callable[[Path], str]
    _loaded: dict[Path, dict[str, torch.Tensor]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def words(self) -> tuple[EmbeddingWord, ...]:
        usable = (EmbeddingWord(name, info.vectors) for name, info in self.infos.items())
        refused = (EmbeddingWord(name, 1, error) for name, error in self.refused.items())
        return (*usable, *refused)

    def vectors(self, name: str, part: str, width: int) -> torch.Tensor:
        """(vectors, width) float32 for encoder `part`; RecipeError naming the file when the width is wrong."""
        info = self.infos[name]
        got = info.widths.get(part)
        if got != width:
            raise RecipeError(_size_message(info, part, width), field="prompt",
                              hint="use an embedding trained for this model's family, or remove the word")
        if info.path not in self._loaded:  # job-local cache: this object lives for one job
            tensors = load_file(str(info.path), device="cpu")
            self._loaded[info.path] = {p: tensors[key].float().reshape(info.vectors, -1) for p, key in info.keys.items()}
        return self._loaded[info.path][part]

    def adapters(self, names: frozenset[str]) -> tuple[AdapterRef, ...]:
        """Recipe adapters for the embeddings used, by name, each with its A1111 12-hex hash."""
        return tuple(AdapterRef(name=name, kind="embedding", hash=self.hash_of(self.infos[name].path)[:HASH_LENGTH])
                     for name in sorted(names))


def _size_message(info: EmbeddingInfo, part: str, width: int) -> str:
    encoder = f"text encoder {part}" if part else "text encoder"
    received = " + ".join(f"{p} {w}" if p else str(w) for p, w in sorted(info.widths.items()))
    wanted = f"{part} vectors of width {width}" if part else f"vectors of width {width}"
    return (f"prompt: embedding {info.name!r} ({info.path}) does not fit this model: its {encoder} takes "
            f"{wanted}, the file holds {received} ({info.vectors} vector{'s' if info.vectors != 1 else ''})")


def library_embeddings(library: ModelLibrary) -> LibraryEmbeddings:
    """Scan the library's embedding folders (headers only)."""
    infos, refused = scan_embeddings(library.scan(ModelKind.EMBEDDING))
    return LibraryEmbeddings(MappingProxyType(infos), MappingProxyType(refused),
                             lambda path: library.hash_cache.hashes(path).sha256)


def check_recorded_embeddings(recipe: Recipe, embeddings: LibraryEmbeddings) -> None:
    """A Recipe that records an embedding (from a picture, say) needs that very file: refuse a missing or changed one."""
    for adapter in recipe.adapters:
        if adapter.kind != "embedding":
            continue
        info = embeddings.infos.get(adapter.name)
        if info is None:
            raise ModelNotFound(f"adapters: embedding {adapter.name!r} is recorded in the recipe but no usable file "
                                "of that name is in the library's embeddings folders",
                                hint="put the file in <home>/embeddings, or run `sfumato models list`")
        current = embeddings.hash_of(info.path)[:HASH_LENGTH]
        if adapter.hash is not None and adapter.hash != current:
            raise RecipeError(
                f"adapters: embedding {adapter.name!r} changed since the recipe was made: recorded hash "
                f"{adapter.hash}, {info.path.name} now hashes {current}", field="adapters",
                hint="restore the original file to make the picture again")


def with_embeddings(recipe: Recipe, used: tuple[AdapterRef, ...]) -> Recipe:
    """`recipe` with its embedding adapters replaced by the ones used (other adapters kept, in order)."""
    others = tuple(adapter for adapter in recipe.adapters if adapter.kind != "embedding")
    if others + used == recipe.adapters:
        return recipe
    return recipe.replace(adapters=others + used)

