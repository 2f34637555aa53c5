"""Textual-inversion embedding files: format, vector count and widths read from the header (torch-free).

Formats, as A1111 v1.10 reads them: one tensor (A1111's `emb_params`, a flattened `string_to_param.*`, or a
diffusers `learned_embeds.safetensors` {token: tensor}), or SDXL's {'clip_l': (n, 768), 'clip_g': (n, 1280)}.
Pickle files (.pt/.bin) are refused as checkpoints are. The trigger word is the file stem, as in A1111.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from safetensors import SafetensorError, safe_open

from sfumato.errors import BadInput, SfumatoError
from sfumato.models.families import Family
from sfumato.models.identify import refuse_unsafe_file
from sfumato.models.library import ModelEntry

SDXL_PARTS: Final = ("clip_l", "clip_g")
SINGLE: Final = ""  # the part name of a one-encoder embedding (SD 1.x / 2.x)

# Token-embedding width of each text encoder, per family: what an embedding's vectors must match.
ENCODER_WIDTHS: Final[Mapping[Family, Mapping[str, int]]] = MappingProxyType({
    Family.SD1: MappingProxyType({SINGLE: 768}),
    Family.SD2: MappingProxyType({SINGLE: 1024}),
    Family.SD2_V: MappingProxyType({SINGLE: 1024}),
    Family.SD_TURBO: MappingProxyType({SINGLE: 1024}),
    Family.SDXL: MappingProxyType({"clip_l": 768, "clip_g": 1280}),
    Family.SDXL_TURBO: MappingProxyType({"clip_l": 768, "clip_g": 1280}),
    Family.SSD1B: MappingProxyType({"clip_l": 768, "clip_g": 1280}),
    Family.SDXL_REFINER: MappingProxyType({"clip_g": 1280}),
    Family.SFUMATO_TINY: MappingProxyType({SINGLE: 32}),  # models/tiny.py CLIP_L_WIDTH
})
# Which family label an embedding is listed under, from its widths (the first family with those widths).
_FAMILY_OF_WIDTHS: Final = MappingProxyType({
    (SINGLE, 768): Family.SD1, (SINGLE, 1024): Family.SD2, ("clip_g", 1280, "clip_l", 768): Family.SDXL,
})


@dataclass(frozen=True)
class EmbeddingInfo:
    """One embedding file as its header describes it; no tensor data is read."""

    name: str  # the trigger word: the file stem
    path: Path
    vectors: int  # token positions it takes in a prompt
    widths: Mapping[str, int]  # part ("" or clip_l / clip_g) -> vector width
    keys: Mapping[str, str]  # part -> tensor key in the file
    format: str

    @property
    def family(self) -> Family | None:
        flat = tuple(item for part in sorted(self.widths) for item in (part, self.widths[part]))
        return _FAMILY_OF_WIDTHS.get(flat)

    @property
    def shape(self) -> int:
        """A1111's `shape`: the vector width, summed over SDXL's two parts."""
        return sum(self.widths.values())

    def fits(self, family: Family) -> bool:
        """Whether this embedding's widths are the ones `family`'s text encoders take."""
        wanted = ENCODER_WIDTHS.get(family)
        return wanted is not None and all(self.widths.get(part) == width for part, width in wanted.items())


def read_embedding_info(path: Path) -> EmbeddingInfo:
    """Read an embedding's header.

    Raises:
        UnsafeCheckpoint: a pickle file (.pt/.bin/...); the hint names `sfumato models convert`.
        BadInput: not safetensors, unreadable, or not one of the embedding formats (the message lists its keys).
    """
    refuse_unsafe_file(path)
    try:
        with safe_open(str(path), framework="numpy") as file:
            shapes = {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}
    except (SafetensorError, OSError) as error:
        raise BadInput(f"embedding file: {path.name} is not a readable safetensors file ({error})") from error
    if all(part in shapes for part in SDXL_PARTS):
        return _sdxl_info(path, shapes)
    if len(shapes) != 1:
        raise BadInput(
            f"embedding file: {path.name} holds {len(shapes)} tensors ({', '.join(sorted(shapes)) or 'none'}); an "
            "embedding is one tensor (A1111 emb_params, diffusers {token: tensor}) or an SDXL clip_l/clip_g pair"
        )
    ((key, shape),) = shapes.items()
    if len(shape) not in (1, 2) or 0 in shape:
        raise BadInput(f"embedding file: {path.name}: tensor {key!r} must be (vectors, width), got shape {list(shape)}")
    vectors, width = (1, shape[0]) if len(shape) == 1 else shape
    kind = "diffusers" if key not in ("emb_params", "*", "string_to_param.*") else "A1111"
    return EmbeddingInfo(path.stem, path, vectors, MappingProxyType({SINGLE: width}),
                         MappingProxyType({SINGLE: key}), kind)


def _sdxl_info(path: Path, shapes: Mapping[str, tuple[int, ...]]) -> EmbeddingInfo:
    counts = {shapes[part][0] if len(shapes[part]) == 2 else -1 for part in SDXL_PARTS}
    if len(counts) != 1 or -1 in counts:
        raise BadInput(f"embedding file: {path.name}: clip_l and clip_g must both be (vectors, width) with the same "
                       f"number of vectors, got {list(shapes['clip_l'])} and {list(shapes['clip_g'])}")
    widths = MappingProxyType({part: shapes[part][1] for part in SDXL_PARTS})
    return EmbeddingInfo(path.stem, path, counts.pop(), widths, MappingProxyType({p: p for p in SDXL_PARTS}), "SDXL")


def describe(info: EmbeddingInfo) -> str:
    """A line for `models list`: vector count, widths and format."""
    widths = " + ".join(f"{part} {width}" if part else str(width) for part, width in sorted(info.widths.items()))
    return f"{info.vectors} vector{'s' if info.vectors != 1 else ''} of width {widths} ({info.format} format)"


def scan_embeddings(entries: Iterable[ModelEntry]) -> tuple[dict[str, EmbeddingInfo], dict[str, SfumatoError]]:
    """Library entries of kind embedding -> usable files and refused ones (pickles, bad formats), by trigger word.

    The first usable file of a name wins (the home's folders come first), so a word always means one file; a
    converted `x.safetensors` beside its `x.pt` is used and the pickle ignored.
    """
    infos: dict[str, EmbeddingInfo] = {}
    refused: dict[str, SfumatoError] = {}
    for entry in entries:
        name = entry.path.stem if entry.path is not None else ""
        if entry.path is None or name in infos:
            continue
        try:
            infos[name] = read_embedding_info(entry.path)
            refused.pop(name, None)
        except SfumatoError as error:
            refused.setdefault(name, error)
    return infos, refused
