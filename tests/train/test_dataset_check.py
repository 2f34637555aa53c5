"""`sfumato data check` on a deliberately broken dataset: every broken file reported, no byte or mtime changed,
and `sfumato train lora` refuses the dataset before loading a model."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import main
from sfumato.errors import BadInput
from sfumato.train.dataset.check import check_dataset


def _png(array: np.ndarray, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _write(root: Path, name: str, data: bytes, caption: str | bytes | None = "a picture, red") -> None:
    (root / name).write_bytes(data)
    if caption is not None:
        raw = caption if isinstance(caption, bytes) else caption.encode()
        (root / name).with_suffix(".txt").write_bytes(raw)


def make_broken_dataset(root: Path) -> dict[str, set[str]]:
    """Files with one problem each; returns {file: expected problem codes}."""
    rng = np.random.default_rng(0)
    root.mkdir()
    rgb = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    good = _png(rgb)
    _write(root, "a-good.png", good)  # sorts first: the copy is the duplicate
    _write(root, "duplicate.png", good)
    _write(root, "truncated.png", good[: len(good) // 2])
    jpeg = io.BytesIO()
    Image.fromarray(rgb).save(jpeg, format="JPEG")
    _write(root, "truncated.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    _write(root, "garbage.jpg", b"this is not a picture")
    _write(root, "tiny.png", _png(rgb[:16, :16]))
    _write(root, "no-caption.png", _png(rgb[::-1]), caption=None)
    _write(root, "empty-caption.png", _png(rgb[:, ::-1]), caption="  \n")
    _write(root, "bad-caption.png", _png(rgb[::-1, ::-1]), caption=b"\xff\xfe caption in latin-1 \xe9")
    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk, format="JPEG")
    _write(root, "cmyk.jpg", cmyk.getvalue())
    _write(root, "alpha.png", _png(np.dstack([rgb, rng.integers(0, 255, (64, 64), dtype=np.uint8)])))
    _write(root, "deep.png", _png((rng.integers(0, 65535, (64, 64))).astype(np.uint16)))
    palette = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(palette, format="PNG")
    _write(root, "palette.png", palette.getvalue())
    (root / "orphan.txt").write_text("a caption with no picture")
    return {
        "duplicate.png": {"duplicate"}, "truncated.png": {"truncated"}, "truncated.jpg": {"truncated"},
        "garbage.jpg": {"unreadable"}, "tiny.png": {"tiny"}, "no-caption.png": {"missing-caption"},
        "empty-caption.png": {"empty-caption"}, "bad-caption.png": {"unreadable-caption"}, "cmyk.jpg": {"cmyk"},
        "alpha.png": {"alpha"}, "deep.png": {"16-bit"}, "palette.png": {"palette"}, "orphan.txt": {"orphan-caption"},
    }


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), os.stat(p).st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def broken(tmp_path: Path) -> tuple[Path, dict[str, set[str]]]:
    root = tmp_path / "broken"
    return root, make_broken_dataset(root)


def test_every_broken_file_is_reported_and_nothing_changes(broken: tuple[Path, dict[str, set[str]]]) -> None:
    root, expected = broken
    before = _snapshot(root)
    report = check_dataset(root)
    assert _snapshot(root) == before
    found: dict[str, set[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.file, set()).add(problem.code)
    assert found == expected
    assert report.images == 13
    errors = {p.file for p in report.errors}
    assert errors == {"truncated.png", "truncated.jpg", "garbage.jpg", "tiny.png", "no-caption.png",
                      "empty-caption.png", "bad-caption.png"}
    with pytest.raises(BadInput, match="7 errors"):
        report.raise_for_errors()


def test_cli_reports_json_and_training_refuses(broken: tuple[Path, dict[str, set[str]]], home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root, expected = broken
    before = _snapshot(root)
    assert main(["data", "check", str(root), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert {p["file"] for p in report["problems"]} == set(expected)
    assert report["errors"] == 7
    assert main(["train", "lora", str(root), "--name", "refused", "--steps", "1"]) == 2
    assert "has 7 errors" in " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert _snapshot(root) == before
    assert not (home / "models" / "Lora" / "refused.safetensors").exists()


def test_kohya_folders_use_class_words_for_missing_captions(tmp_path: Path) -> None:
    folder = tmp_path / "ds" / "10_zkz man"
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 64), "red").save(folder / "a.png")
    report = check_dataset(tmp_path / "ds")
    assert [(p.code, p.severity) for p in report.problems] == [("missing-caption", "warning")]
    assert "'zkz man' is used" in report.problems[0].message
