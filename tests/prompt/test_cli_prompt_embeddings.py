"""`prompt explain` shows embedding tokens; `models list` shows embeddings with vector count and family."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from sfumato.cli import app
from sfumato.cli.prompt import prompt_app


def _embeddings(home: Path) -> None:
    folder = home / "embeddings"
    folder.mkdir()
    save_file({"emb_params": torch.zeros(3, 32)}, str(folder / "inkstyle.safetensors"))
    save_file({"clip_l": torch.zeros(2, 768), "clip_g": torch.zeros(2, 1280)}, str(folder / "xlstyle.safetensors"))
    torch.save({"string_to_param": {"*": torch.zeros(1, 768)}}, folder / "oldpickle.pt")


def test_explain_shows_the_embedding_over_its_positions(home: Path) -> None:
    _embeddings(home)
    result = CliRunner().invoke(prompt_app, ["explain", "a (inkstyle:1.2) owl, [cat:dog:0.5]", "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert "chunk 1: a <inkstyle:3 vectors>@1.2 owl , cat" in result.output
    assert "7 tokens in 1 chunk(s)" in result.output  # a + 3 vectors + owl , cat: A1111's count
    assert "[cat:dog:0.5]" in result.output  # printed as typed (no ":dog:" emoji)
    assert "embedding inkstyle: 3 vectors of width 32 (A1111 format)" in result.output
    other = CliRunner().invoke(prompt_app, ["explain", "a xlstyle owl", "--model", "sfumato-tiny"])
    assert "does NOT fit sfumato-tiny" in other.output
    plain = CliRunner().invoke(prompt_app, ["explain", "an owl"])
    assert "embeddings: none used (in the library: inkstyle, xlstyle)" in plain.output
    refused = CliRunner().invoke(prompt_app, ["explain", "an oldpickle owl"])
    assert refused.exit_code != 0 and "sfumato models convert" in str(refused.exception.hint)


def test_models_list_shows_embeddings(home: Path) -> None:
    _embeddings(home)
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    found = {entry["name"]: entry for entry in json.loads(result.output) if entry["kind"] == "embedding"}
    assert found["xlstyle"]["family"] == "sdxl"
    assert found["xlstyle"]["evidence"] == "2 vectors of width clip_g 1280 + clip_l 768 (SDXL format)"
    assert found["inkstyle"]["evidence"].startswith("3 vectors")
    assert "pickle" in found["oldpickle"]["error"]
