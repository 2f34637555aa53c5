"""Hashes as A1111 shows them, and the cache that keeps a file from being hashed twice."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from sfumato.models.hashing import HashCache, compute_hashes


def _tensor_file(path: Path, value: float = 1.0) -> Path:
    save_file({"w": np.full((4, 4), value, dtype=np.float32)}, str(path), metadata={"note": "x"})
    return path


def test_sha256_autov2_and_addnet_hash(tmp_path: Path) -> None:
    path = _tensor_file(tmp_path / "m.safetensors")
    data = path.read_bytes()
    hashes = compute_hashes(path)
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert hashes.autov2 == hashes.sha256[:10]
    header_len = int.from_bytes(data[:8], "little")
    assert hashes.addnet == hashlib.sha256(data[8 + header_len:]).hexdigest()
    assert hashes.lora_hash == hashes.addnet[:12]


def test_cache_hits_until_the_file_changes(tmp_path: Path) -> None:
    path = _tensor_file(tmp_path / "m.safetensors")
    cache = HashCache(tmp_path / "cache" / "hashes.json")
    assert cache.cached(path) is None
    first = cache.hashes(path)
    reopened = HashCache(tmp_path / "cache" / "hashes.json")  # persisted
    assert reopened.cached(path) == first
    _tensor_file(path, value=2.0)
    os.utime(path, ns=(1, 1))
    assert reopened.cached(path) is None
    assert reopened.hashes(path).sha256 != first.sha256


def test_progress_reports_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.ckpt"
    path.write_bytes(os.urandom(3 * (1 << 20) + 5))
    seen: list[tuple[int, int]] = []
    compute_hashes(path, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (path.stat().st_size, path.stat().st_size) and len(seen) == 4
    assert compute_hashes(path).addnet is None
