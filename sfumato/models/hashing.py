"""File hashes as A1111 shows them (sha256, AutoV2 short hash, the LoRA 'addnet' hash), computed once per file.

The cache is a JSON file keyed by absolute path, size and mtime: a file that changes is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sfumato.atomic_write import atomic_write_bytes

CHUNK = 1 << 20
ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    addnet: str | None = None  # sha256 over a safetensors file's tensor data only (A1111 "Lora hashes")

    @property
    def autov2(self) -> str:
        """A1111's 'Model hash' (AutoV2): the first 10 hex digits of the sha256."""
        return self.sha256[:10]

    @property
    def lora_hash(self) -> str:
        """A1111's 'Lora hashes' entry: 12 hex of the addnet hash (sha256 for non-safetensors)."""
        return (self.addnet or self.sha256)[:12]


def _digest(path: Path, *, start: int, on_progress: ProgressFn | None) -> str:
    total = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(start)
        done = start
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    return digest.hexdigest()


def compute_hashes(path: Path, *, on_progress: ProgressFn | None = None) -> FileHashes:
    """Hash a file (and, for safetensors, its tensor data after the JSON header)."""
    sha = _digest(path, start=0, on_progress=on_progress)
    if path.suffix != ".safetensors":
        return FileHashes(sha)
    with path.open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
    return FileHashes(sha, _digest(path, start=8 + header_len, on_progress=None))


class HashCache:
    """Hashes keyed by (path, size, mtime); persisted as JSON with atomic writes. Thread-safe."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, object]] = {}
        if file.exists():
            try:
                self._entries = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._entries = {}  # a corrupt cache only costs a re-hash

    @staticmethod
    def _key(path: Path) -> tuple[str, int, int]:
        stat = path.stat()
        return str(path.resolve()), stat.st_size, stat.st_mtime_ns

    def cached(self, path: Path) -> FileHashes | None:
        name, size, mtime = self._key(path)
        entry = self._entries.get(name)
        if entry is None or entry.get("size") != size or entry.get("mtime_ns") != mtime:
            return None
        addnet = entry.get("addnet")
        return FileHashes(str(entry["sha256"]), str(addnet) if addnet else None)

    def hashes(self, path: Path, *, on_progress: ProgressFn | None = None) -> FileHashes:
        """The file's hashes, from the cache when the file is unchanged."""
        if (hit := self.cached(path)) is not None:
            return hit
        result = compute_hashes(path, on_progress=on_progress)
        name, size, mtime = self._key(path)
        with self._lock:
            self._entries[name] = {"size": size, "mtime_ns": mtime, "sha256": result.sha256, "addnet": result.addnet}
            self.file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.file, json.dumps(self._entries, indent=1, sort_keys=True).encode())
        return result
