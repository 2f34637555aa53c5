"""Model library: finds checkpoints, LoRAs and embeddings in the configured folders, names and hashes them.

Folders follow A1111's layout (and ComfyUI's names for the same): `models/Stable-diffusion`,
`models/Lora`, `embeddings`. Identification reads only safetensors headers; hashing is cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

from sfumato.errors import ModelNotFound, SfumatoError
from sfumato.models.families import Family
from sfumato.models.hashing import FileHashes, HashCache, ProgressFn
from sfumato.sampler_names import closest

BUILTIN_TINY: Final = "sfumato-tiny"
EMBEDDED_MODEL: Final = "sfumato-emoji"
# The embedded model ships inside the package (trained by `sfumato train base`, issue #4): the default model.
EMBEDDED_MODEL_FILE: Final = Path(__file__).resolve().parent / "embedded" / f"{EMBEDDED_MODEL}.safetensors"
WEIGHT_SUFFIXES: Final = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


class ModelKind(StrEnum):
    CHECKPOINT = "checkpoint"
    LORA = "lora"
    EMBEDDING = "embedding"


# Sub-folders of a model root for each kind: A1111 names first, then ComfyUI's.
KIND_FOLDERS: Final[Mapping[ModelKind, tuple[str, ...]]] = MappingProxyType({
    ModelKind.CHECKPOINT: ("models/Stable-diffusion", "models/checkpoints"),
    ModelKind.LORA: ("models/Lora", "models/LyCORIS", "models/loras"),
    ModelKind.EMBEDDING: ("embeddings", "models/embeddings"),
})


@dataclass(frozen=True)
class ModelEntry:
    """One model file or diffusers folder the library found."""

    name: str  # path relative to its kind folder, without extension, '/'-separated (A1111's naming)
    path: Path | None  # None for models the package builds itself
    kind: ModelKind
    family: Family | None
    evidence: str
    size: int
    hashes: FileHashes | None = None
    is_inpainting: bool = False
    prediction_type: str | None = None
    error: str | None = None  # why the file cannot be used (pickle, unknown layout), shown by `models list`

    @property
    def is_builtin(self) -> bool:
        return self.path is None

    @property
    def title(self) -> str:
        """A1111's checkpoint title: 'name.safetensors [shorthash]'."""
        file_name = self.path.name if self.path is not None else self.name
        return f"{file_name} [{self.hashes.autov2}]" if self.hashes else file_name


def _is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and (path / "model_index.json").is_file()


def _candidates(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES and not _inside_diffusers_folder(path, folder) or _is_diffusers_folder(path):
            yield path


def _inside_diffusers_folder(path: Path, root: Path) -> bool:
    return any(_is_diffusers_folder(parent) for parent in path.parents if parent != root and root in parent.parents)


def _entry_name(path: Path, folder: Path) -> str:
    relative = path.relative_to(folder)
    return relative.with_suffix("").as_posix() if path.is_file() else relative.as_posix()


def _builtin_entries() -> list[ModelEntry]:
    """The models every install has: the embedded model's file in the package, and sfumato-tiny."""
    tiny = ModelEntry(
        name=BUILTIN_TINY, path=None, kind=ModelKind.CHECKPOINT, family=Family.SFUMATO_TINY,
        evidence="built by the package from a fixed seed (untrained: pictures are noise-like)", size=0,
    )
    if not EMBEDDED_MODEL_FILE.is_file():  # a source tree whose weights were removed; nothing else depends on it
        return [tiny]
    embedded = checkpoint_entry(EMBEDDED_MODEL_FILE, EMBEDDED_MODEL)
    return [replace(embedded, evidence=f"ships with sfumato; {embedded.evidence}"), tiny]


def checkpoint_entry(path: Path, name: str) -> ModelEntry:
    # identify() reads only headers; errors become a visible entry so `models list` can explain them.
    from sfumato.models.identify import identify

    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    try:
        found = identify(path)
    except SfumatoError as error:
        reason = error.message if error.hint is None else f"{error.message}; {error.hint}"
        return ModelEntry(name, path, ModelKind.CHECKPOINT, None, "", size, error=reason)
    return ModelEntry(
        name, path, ModelKind.CHECKPOINT, found.family, found.evidence, size,
        is_inpainting=found.is_inpainting, prediction_type=found.prediction_type,
    )


def _embedding_entry(path: Path, name: str) -> ModelEntry:
    # Header only: the vector count and widths (and so the family) of a textual-inversion embedding.
    from sfumato.models.embedding_files import describe, read_embedding_info

    size = path.stat().st_size if path.is_file() else 0
    try:
        info = read_embedding_info(path)
    except SfumatoError as error:
        reason = error.message if error.hint is None else f"{error.message}; {error.hint}"
        return ModelEntry(name, path, ModelKind.EMBEDDING, None, "", size, error=reason)
    return ModelEntry(name, path, ModelKind.EMBEDDING, info.family, describe(info), size)


def _identify_lora(path: Path, name: str) -> ModelEntry:
    # Header only, like checkpoints; LoHa/LoKr and non-LoRA files get a visible reason instead of a family.
    from sfumato.models.lora_files import identify_lora

    size = path.stat().st_size if path.is_file() else 0
    try:
        found = identify_lora(path)
    except SfumatoError as error:
        return ModelEntry(name, path, ModelKind.LORA, None, "", size, error=error.message)
    refused = None if found.is_loadable else f"a {found.label} file; diffusers loads LoRA and LoCon files only"
    return ModelEntry(name, path, ModelKind.LORA, found.family, found.evidence, size, error=refused)


# How each kind of file is identified from its header (kinds not listed are only named and sized).
_IDENTIFY: Final[Mapping[ModelKind, Callable[[Path, str], ModelEntry]]] = MappingProxyType({
    ModelKind.CHECKPOINT: checkpoint_entry,
    ModelKind.LORA: _identify_lora,
    ModelKind.EMBEDDING: _embedding_entry,
})


class ModelLibrary:
    """Scans model roots; looks entries up by name, title or short hash."""

    def __init__(self, roots: tuple[Path, ...], hash_cache: HashCache) -> None:
        self.roots = roots
        self.hash_cache = hash_cache

    def folders(self, kind: ModelKind) -> list[Path]:
        return [root / sub for root in self.roots for sub in KIND_FOLDERS[kind]]

    def scan(self, kind: ModelKind = ModelKind.CHECKPOINT, *, with_hashes: bool = False,
             on_progress: ProgressFn | None = None) -> list[ModelEntry]:
        """Every model of `kind`; hashes are added when cached, or computed when `with_hashes`."""
        entries = _builtin_entries() if kind is ModelKind.CHECKPOINT else []
        seen: set[Path] = set()
        for folder in self.folders(kind):
            for path in _candidates(folder):
                if path.resolve() in seen:
                    continue
                seen.add(path.resolve())
                name = _entry_name(path, folder)
                identify_entry = _IDENTIFY.get(kind)
                entry = (
                    identify_entry(path, name) if identify_entry is not None
                    else ModelEntry(name, path, kind, None, "", path.stat().st_size if path.is_file() else 0)
                )
                entries.append(self._with_hashes(entry, compute=with_hashes, on_progress=on_progress))
        return entries

    def hashed(self, entry: ModelEntry, *, on_progress: ProgressFn | None = None) -> ModelEntry:
        """`entry` with its hashes, computed now unless the cache already has them."""
        return self._with_hashes(entry, compute=True, on_progress=on_progress)

    def _with_hashes(self, entry: ModelEntry, *, compute: bool, on_progress: ProgressFn | None) -> ModelEntry:
        if entry.path is None or not entry.path.is_file():
            return entry
        hashes = (
            self.hash_cache.hashes(entry.path, on_progress=on_progress) if compute
            else self.hash_cache.cached(entry.path)
        )
        return entry if hashes is None else replace(entry, hashes=hashes)

    def find(self, name: str, kind: ModelKind = ModelKind.CHECKPOINT, *, with_hashes: bool = True,
             on_progress: ProgressFn | None = None) -> ModelEntry:
        """The entry called `name` (name, file name, title, or AutoV2 short hash)."""
        entries = self.scan(kind)
        wanted = name.split(" [")[0]  # A1111 titles carry ' [hash]'
        for entry in entries:
            file_name = entry.path.name if entry.path is not None else entry.name
            if wanted in (entry.name, file_name, Path(entry.name).name):
                return self._with_hashes(entry, compute=with_hashes, on_progress=on_progress)
        for entry in entries:  # by short hash, only where already hashed (hashing every file to look is too slow)
            if entry.hashes is not None and name.lower() in (entry.hashes.autov2, entry.hashes.sha256):
                return entry
        suggestions = closest(wanted, [e.name for e in entries])
        hint = f"did you mean {', '.join(map(repr, suggestions))}?" if suggestions else "run `sfumato models list`"
        folders = ", ".join(str(f) for f in self.folders(kind))
        raise ModelNotFound(f"no {kind.value} named {name!r} in the library (looked in {folders})", hint=hint)

