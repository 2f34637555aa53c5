"""CLI: variation flags on generate, `sfumato vary`, `sfumato walk`, `sfumato grid` and `info` on a grid sheet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import main

FAST = ["--steps", "2", "--size", "32x32"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_with_variation_flags_then_vary_and_again(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "an otter", "--seed", "3", "--variation-seed", "50",
                         "--variation-strength", "0.3", "--batch", "2", "--json", *FAST)
    assert code == 0, err
    items = json.loads(out)
    assert [(i["recipe"]["seed"], i["recipe"]["subseed"]) for i in items] == [(3, 50), (3, 51)]
    code, _, err = run(capsys, "vary", items[1]["path"])
    assert code == 2 and "itself a variation" in err  # one variation seed per recipe, as in A1111

    _, plain, _ = run(capsys, "generate", "an otter", "--seed", "3", *FAST)
    code, out, err = run(capsys, "vary", plain.strip(), "--strength", "0.2", "--count", "2",
                         "--variation-seed", "70", "--json")
    assert code == 0, err
    varied = json.loads(out)["pictures"]
    assert [(p["recipe"]["seed"], p["recipe"]["subseed"], p["recipe"]["subseed_strength"]) for p in varied] == \
        [(3, 70, 0.2), (3, 71, 0.2)]
    code, out, err = run(capsys, "again", varied[1]["path"])
    assert code == 0 and "pixels match" in out, err


def test_walk_writes_frames_and_animations(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "walk", "an otter", "--seed", "3", "--to-seed", "8", "--frames", "3",
                         "--formats", "webp,gif", "--json", *FAST)
    assert code == 0, err
    result = json.loads(out)
    assert [p["recipe"]["subseed_strength"] for p in result["pictures"]] == [0.0, 0.5, 1.0]
    webp = Path(result["files"][0])
    assert webp.parent == Path(result["pictures"][0]["path"]).parent and webp.parent.parent.name == "walks"
    with Image.open(webp) as animation:
        assert animation.n_frames == 3
    code, _, err = run(capsys, "walk", "an otter", "--formats", "avi", *FAST)
    assert code == 2 and "avi" in err


def test_grid_and_info_on_its_sheet(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "grid", "a {cat|dog}", "--x", "seed: 1-2", "--z", "sampler: Euler a, DPM++ 2M",
                         "--json", *FAST)
    assert code == 0, err
    result = json.loads(out)
    assert len(result["pictures"]) == 8 and len(result["sheets"]) == 2
    pictures = {(p["recipe"]["seed"], p["recipe"]["prompt"], p["recipe"]["sampler"]) for p in result["pictures"]}
    assert len(pictures) == 8
    code, out, err = run(capsys, "info", result["sheets"][0])
    assert code == 0, err
    assert "2 columns x 2 rows, 4 cells" in out and "X: Seed = Seed: 1, Seed: 2" in out
    assert "Y: Prompt S/R = cat, dog" in out and "this sheet: Euler a" in out
    code, out, _ = run(capsys, "info", result["sheets"][1], result["pictures"][0]["path"], "--json")
    sheet, picture = json.loads(out)
    assert sheet["source"] == "grid" and sheet["grid"]["z_label"] == "DPM++ 2M"
    assert picture["recipe"]["seed"] == 1
    with Image.open(result["sheets"][0]) as image:
        assert np.asarray(image).shape[2] == 3
    code, _, err = run(capsys, "grid", "a cat", "--x", "flavour: sweet", *FAST)
    assert code == 2 and "unknown axis 'flavour'" in err
