"""CLI: `models list|scan|show|convert` and `library search|reindex|show` against a real home folder."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from sfumato.cli import main
from sfumato.models.families import Family
from sfumato.models.ldm_layout import save_single_file
from sfumato.models.tiny import build_tiny_pipeline

FAST = ["--steps", "2", "--size", "64x64"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def stocked_home(home: Path) -> Path:
    checkpoints = home / "models" / "Stable-diffusion"
    checkpoints.mkdir(parents=True)
    save_single_file(build_tiny_pipeline(Family.SD1, seed=4), Family.SD1, checkpoints / "tiny15.safetensors")
    torch.save({"state_dict": {"w": torch.arange(4.0)}}, checkpoints / "legacy.ckpt")
    return home


def test_models_list_json_identifies_and_explains(stocked_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "list", "--json")
    assert code == 0, err
    entries = {e["name"]: e for e in json.loads(out)}
    assert entries["tiny15"]["family"] == "sd1" and entries["tiny15"]["sha256"] is None  # not hashed yet
    assert entries["legacy"]["family"] is None and "sfumato models convert" in entries["legacy"]["error"]
    assert entries["sfumato-tiny"]["family"] == "sfumato-tiny"


def test_models_scan_then_show_reports_hashes(stocked_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "scan")
    assert code == 0, err
    assert "tiny15" in out
    code, out, err = run(capsys, "models", "show", "tiny15")
    shown = json.loads(out)
    assert len(shown["sha256"]) == 64 and shown["short_hash"] == shown["sha256"][:10]
    code, out, _ = run(capsys, "models", "list", "--json")
    assert {e["name"]: e for e in json.loads(out)}["tiny15"]["sha256"] == shown["sha256"]  # cached


def test_generate_with_a_pickle_is_refused_with_exit_3(stocked_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "generate", "x", "--model", "legacy", *FAST)
    assert code == 3 and "legacy" in err


def test_models_convert_then_the_tensors_load(stocked_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = stocked_home / "models" / "Stable-diffusion" / "legacy.ckpt"
    code, out, err = run(capsys, "models", "convert", str(source))
    assert code == 0, err
    from safetensors.torch import load_file

    assert torch.equal(load_file(out.strip())["w"], torch.arange(4.0))


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, ("pwned.txt", "w"))


def test_models_convert_refuses_code_in_a_pickle(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Evil()}, evil, pickle_module=pickle)
    code, _, err = run(capsys, "models", "convert", str(evil))
    assert code == 3, err
    assert not (tmp_path / "pwned.txt").exists() and not (tmp_path / "evil.safetensors").exists()


def test_library_search_reindex_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "generate", "an otter in watercolor", "--seed", "1", *FAST)
    run(capsys, "generate", "a fox in ink", "--seed", "2", "--collection", "ink/foxes", *FAST)
    code, out, err = run(capsys, "library", "search", "otter watercolor", "--json")
    assert code == 0, err
    found = json.loads(out)
    assert [r["prompt"] for r in found] == ["an otter in watercolor"]
    code, out, _ = run(capsys, "library", "search", "--collection", "ink", "--json")
    assert [r["prompt"] for r in json.loads(out)] == ["a fox in ink"]
    (home / "library" / "index.sqlite3").unlink()
    for extra in ("-wal", "-shm"):
        (home / "library" / f"index.sqlite3{extra}").unlink(missing_ok=True)
    code, out, err = run(capsys, "library", "reindex")
    assert code == 0, err
    code, out, _ = run(capsys, "library", "search", "fox", "--json")
    record = json.loads(out)[0]
    code, out, _ = run(capsys, "library", "show", record["id"])
    assert json.loads(out)["recipe"]["seed"] == 2


def test_library_show_unknown_id_is_exit_3(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "library", "show", "0123456789abcdef")
    assert code == 3 and "0123456789abcdef" in err
