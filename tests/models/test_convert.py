"""convert_to_safetensors: bit-identical tensors, weights-only loading, refusal of code-running pickles."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from sfumato.errors import BadInput, ModelNotFound, UnsafeCheckpoint
from sfumato.models.convert import convert_to_safetensors


class _WritesAFile:
    """A pickle payload that creates a file when unpickled: what a malicious .ckpt does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _weights() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "model.diffusion_model.w": torch.randn(4, 3, generator=generator),
        "first_stage_model.b": torch.randn(5, generator=generator, dtype=torch.float64).half(),
        "cond_stage_model.ids": torch.arange(7, dtype=torch.int64),
        "flags": torch.tensor([True, False]),
    }


def _assert_bit_identical(expected: dict[str, torch.Tensor], path: Path) -> None:
    loaded = load_file(path)
    assert set(loaded) == set(expected)
    for name, tensor in expected.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert loaded[name].shape == tensor.shape, name
        assert torch.equal(loaded[name].view(torch.uint8), tensor.contiguous().view(torch.uint8)), name


def test_converts_plain_state_dict_next_to_source(tmp_path: Path) -> None:
    weights = _weights()
    src = tmp_path / "model.ckpt"
    torch.save(weights, src)
    out = convert_to_safetensors(src)
    assert out == tmp_path / "model.safetensors"
    _assert_bit_identical(weights, out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_unwraps_state_dict_and_drops_non_tensors(tmp_path: Path) -> None:
    weights = _weights()
    src = tmp_path / "a1111.pt"
    torch.save({"state_dict": {**weights, "note": "hi", "step": 3}, "global_step": 1000, "epoch": 2}, src)
    out = convert_to_safetensors(src, tmp_path / "elsewhere.safetensors")
    assert out.name == "elsewhere.safetensors"
    _assert_bit_identical(weights, out)
    with safe_open(out, framework="pt") as file:
        assert file.metadata()["sfumato_converted_from"] == "a1111.pt"


def test_shared_and_strided_tensors_are_stored_separately(tmp_path: Path) -> None:
    base = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    weights = {"a": base, "tied": base, "row": base[2], "t": base.t()}
    src = tmp_path / "tied.bin"
    torch.save(weights, src)
    out = convert_to_safetensors(src)
    _assert_bit_identical({k: v.contiguous() for k, v in weights.items()}, out)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    src = tmp_path / "evil.ckpt"
    torch.save({"w": torch.zeros(2), "payload": _WritesAFile(marker)}, src)
    with pytest.raises(UnsafeCheckpoint) as caught:
        convert_to_safetensors(src)
    assert not marker.exists()
    assert not (tmp_path / "evil.safetensors").exists()
    assert "evil.ckpt" in str(caught.value) and caught.value.hint


def test_legacy_non_zip_format_is_read(tmp_path: Path) -> None:
    weights = _weights()
    src = tmp_path / "old.pth"
    torch.save(weights, src, _use_new_zipfile_serialization=False)
    _assert_bit_identical(weights, convert_to_safetensors(src))


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        convert_to_safetensors(tmp_path / "missing.ckpt")
    other = tmp_path / "x.safetensors"
    other.write_bytes(b"")
    with pytest.raises(BadInput, match="suffix"):
        convert_to_safetensors(other)
    src = tmp_path / "x.ckpt"
    torch.save(_weights(), src)
    with pytest.raises(BadInput, match="already exists"):
        convert_to_safetensors(src)  # x.safetensors is there
    empty = tmp_path / "empty.pt"
    torch.save({"step": 1}, empty)
    with pytest.raises(BadInput, match="no tensors"):
        convert_to_safetensors(empty)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises((BadInput, UnsafeCheckpoint)):
        convert_to_safetensors(garbage)
