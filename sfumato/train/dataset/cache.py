"""On-disk cache of VAE latents and text-encoder outputs, keyed by content hash + model hash + resolution.

A second run on the same pictures and base model reads every latent back instead of running the VAE;
a changed picture, model or bucket gets a new key. Files are safetensors, written atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from sfumato.atomic_write import atomic_write_bytes

Tensors = dict[str, torch.Tensor]


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_fingerprint(*models: torch.nn.Module) -> str:
    """sha256 over every tensor of `models`: the cache key of a base model that has no file hash (built-ins)."""
    digest = hashlib.sha256()
    for model in models:
        for name, value in model.state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


@dataclass
class EncodingCache:
    """Latents under `folder/latents/`, text states under `folder/text/`; `stats` counts reuse."""

    folder: Path
    model_hash: str
    stats: CacheStats = field(default_factory=CacheStats)
    # Entries read this run stay in memory: text states are asked for at every step (~0.2-0.6 MB per caption).
    _memory: dict[Path, Tensors] = field(default_factory=dict, repr=False)

    def _path(self, kind: str, *parts: str) -> Path:
        key = hashlib.sha256("\0".join((kind, self.model_hash, *parts)).encode()).hexdigest()
        return self.folder / kind / key[:2] / f"{key}.safetensors"

    def _get(self, path: Path, compute: Callable[[], Tensors]) -> Tensors:
        if path in self._memory:
            self.stats.hits += 1
            return self._memory[path]
        tensors = self._read_or_compute(path, compute)
        self._memory[path] = tensors
        return tensors

    def _read_or_compute(self, path: Path, compute: Callable[[], Tensors]) -> Tensors:
        if path.is_file():
            try:
                tensors = load_file(str(path))
                self.stats.hits += 1
                return tensors
            except SafetensorError:
                pass  # a damaged entry is recomputed and replaced
        self.stats.misses += 1
        tensors = {k: v.detach().cpu().contiguous() for k, v in compute().items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save(tensors))
        return tensors

    def latents(self, image_hash: str, size: tuple[int, int], compute: Callable[[], Tensors]) -> Tensors:
        return self._get(self._path("latents", image_hash, f"{size[0]}x{size[1]}"), compute)

    def text(self, caption: str, compute: Callable[[], Tensors]) -> Tensors:
        return self._get(self._path("text", caption), compute)
