"""The model library: A1111/ComfyUI folder layouts, names, lookups by name/title/hash, refused files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sfumato.errors import ModelNotFound
from sfumato.models.families import Family
from sfumato.models.hashing import HashCache
from sfumato.models.ldm_layout import save_single_file
from sfumato.models.library import ModelKind, ModelLibrary
from sfumato.models.tiny import build_tiny_pipeline


@pytest.fixture(scope="module")
def a1111_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("webui")
    checkpoints = root / "models" / "Stable-diffusion"
    (checkpoints / "styles").mkdir(parents=True)
    pipe = build_tiny_pipeline(Family.SD1, seed=2)
    save_single_file(pipe, Family.SD1, checkpoints / "styles" / "inkwash.safetensors")
    pipe.save_pretrained(checkpoints / "inkwash-diffusers")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, checkpoints / "old.ckpt")
    (root / "models" / "Lora").mkdir(parents=True)
    (root / "models" / "Lora" / "otter.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (root / "embeddings").mkdir()
    (root / "embeddings" / "easynegative.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    comfy = tmp_path_factory.mktemp("comfy")
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    save_single_file(build_tiny_pipeline(Family.SDXL, seed=2), Family.SDXL, comfy / "models" / "checkpoints" / "xl.safetensors")
    return root


@pytest.fixture
def library(a1111_root: Path, tmp_path: Path) -> ModelLibrary:
    comfy = next(a1111_root.parent.glob("comfy*"))
    return ModelLibrary((tmp_path, a1111_root, comfy), HashCache(tmp_path / "hashes.json"))


def test_scan_names_like_a1111(library: ModelLibrary) -> None:
    entries = {e.name: e for e in library.scan()}
    assert set(entries) == {"sfumato-emoji", "sfumato-tiny", "styles/inkwash", "inkwash-diffusers", "old", "xl"}
    assert entries["styles/inkwash"].family is Family.SD1
    assert entries["inkwash-diffusers"].family is Family.SD1
    assert entries["xl"].family is Family.SDXL
    assert entries["old"].family is None and "sfumato models convert" in (entries["old"].error or "")


def test_loras_and_embeddings_are_listed(library: ModelLibrary) -> None:
    assert [e.name for e in library.scan(ModelKind.LORA)] == ["otter"]
    assert [e.name for e in library.scan(ModelKind.EMBEDDING)] == ["easynegative"]


def test_find_by_name_file_name_title_and_hash(library: ModelLibrary) -> None:
    entry = library.find("styles/inkwash")
    assert entry.hashes is not None
    assert library.find("inkwash.safetensors").path == entry.path
    assert library.find(entry.title).path == entry.path  # 'inkwash.safetensors [abcdef0123]'
    assert library.find(entry.hashes.autov2).path == entry.path


def test_unknown_name_suggests_close_ones(library: ModelLibrary) -> None:
    with pytest.raises(ModelNotFound) as caught:
        library.find("inkwsh")
    assert "no checkpoint named 'inkwsh'" in caught.value.message
    assert caught.value.hint is not None and "inkwash" in caught.value.hint
