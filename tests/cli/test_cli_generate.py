"""End-to-end CLI: generate on the built-in tiny model, read the recipe back, make it again, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from sfumato.cli import main

FAST = ["--steps", "3", "--size", "64x64"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_prints_paths_into_the_library(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "a watercolor otter", "--seed", "7", "--batch", "2", *FAST)
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert len(paths) == 2 and all(p.is_file() and p.suffix == ".png" for p in paths)
    assert all(home / "library" in p.parents for p in paths)
    assert all(p.with_suffix(".yaml").is_file() for p in paths)
    with Image.open(paths[0]) as image:
        assert image.size == (64, 64)
        assert "warnings: []" in paths[0].with_suffix(".yaml").read_text()
        assert "Seed: 7," in image.text["parameters"] and "sfumato" in image.text


def test_generate_json_lists_path_and_recipe(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "generate", "an owl", "--seed", "11", "--batch-count", "2", "--out",
                         str(tmp_path / "out"), "--json", *FAST)
    assert code == 0, err
    items = json.loads(out)
    assert [item["recipe"]["seed"] for item in items] == [11, 12]
    assert [Path(item["path"]).name for item in items] == ["00000-11.png", "00001-12.png"]
    assert items[0]["recipe"]["prompt"] == "an owl" and items[0]["recipe"]["model"] == "sfumato-tiny"


def test_same_recipe_same_pixels_and_again_matches(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "generate", "a red apple", "--seed", "5", *FAST)
    _, second, _ = run(capsys, "generate", "a red apple", "--seed", "5", *FAST)
    _, other, _ = run(capsys, "generate", "a red apple", "--seed", "6", *FAST)
    pixels = [np.asarray(Image.open(p.strip())) for p in (first, second, other)]
    assert np.array_equal(pixels[0], pixels[1])
    assert not np.array_equal(pixels[0], pixels[2])
    code, out, err = run(capsys, "again", first.strip())
    assert code == 0, err
    assert "pixels match" in out


def test_again_on_a_batch_member_reruns_its_batch(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "generate", "a blue cup", "--seed", "20", "--batch", "3", "--sampler", "Euler a", *FAST)
    third = out.splitlines()[2]
    code, again_out, err = run(capsys, "again", third)
    assert code == 0, err
    assert "reran its batch of 3" in again_out


def test_again_fails_with_exit_6_when_pixels_differ(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "generate", "a lamp", "--seed", "3", *FAST)
    path = Path(out.strip())
    with Image.open(path) as image:
        info = PngImagePlugin.PngInfo()
        for key, value in image.text.items():
            info.add_itxt(key, value)
        pixels = np.asarray(image.convert("RGB")).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(path, pnginfo=info)
    code, _, err = run(capsys, "again", str(path))
    assert code == 6
    assert "1 pixels differ" in err


def test_info_reads_several_files_as_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "generate", "a kite", "--seed", "9", "--batch", "2", *FAST)
    files = out.split()
    code, info_out, err = run(capsys, "info", *files, "--json")
    assert code == 0, err
    recipes = json.loads(info_out)
    assert [r["recipe"]["seed"] for r in recipes] == [9, 10]
    assert {r["source"] for r in recipes} == {"sfumato-json"}
    code, text_out, _ = run(capsys, "info", files[0])
    assert "a kite" in text_out and "Steps: 3" in text_out


def test_from_file_accepts_plain_and_a1111_lines(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text('# a comment\na paper boat\n--prompt "a glass owl" --steps 2 --sampler_name "Euler a" --seed 4\n')
    code, out, err = run(capsys, "generate", "--from-file", str(prompts), "--json", "--seed", "1", *FAST)
    assert code == 0, err
    items = json.loads(out)
    assert [(i["recipe"]["prompt"], i["recipe"]["steps"], i["recipe"]["sampler"], i["recipe"]["seed"])
            for i in items] == [("a paper boat", 3, "DPM++ 2M", 1), ("a glass owl", 2, "Euler a", 4)]


@pytest.mark.parametrize(("argv", "code", "words"), [
    (["generate", "x", "--size", "513x512"], 2, ["width", "multiple of 8", "513"]),
    (["generate", "x", "--size", "big"], 2, ["--size", "WIDTHxHEIGHT"]),
    (["generate", "x", "--steps", "0"], 2, ["steps", "greater than or equal to 1"]),
    (["generate", "x", "--sampler", "Eular a"], 2, ["unknown sampler", "Euler a"]),
    (["generate", "x", "--model", "nope"], 3, ["no checkpoint named 'nope'"]),
    (["generate", "x", "--device", "cuda"], 2, ["device", "cuda"]),
    (["generate", "x", "--bogus-flag"], 2, ["No such option"]),
    (["generate"], 2, ["Usage"]),
    (["info", "missing.png"], 2, ["missing.png"]),
])
def test_bad_input_gets_message_and_exit_code(home: Path, capsys: pytest.CaptureFixture[str],
                                              argv: list[str], code: int, words: list[str]) -> None:
    got, out, err = run(capsys, *argv)
    assert got == code, (out, err)
    for word in words:
        assert word in out + err


def test_info_on_a_png_without_metadata_is_exit_2(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    code, _, err = run(capsys, "info", str(plain))
    assert code == 2 and "plain.png" in err


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["generate", "--help"], ["models", "--help"], ["library", "search", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "Usage" in out


def test_a1111_only_sampler_reads_but_does_not_run(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    picture = tmp_path / "a1111.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "an owl\nSteps: 20, Sampler: DPM adaptive, Schedule type: Align Your Steps, "
                                "CFG scale: 7, Seed: 1, Size: 64x64, Model: sfumato-tiny, Version: v1.10.1")
    Image.new("RGB", (64, 64)).save(picture, pnginfo=info)
    code, out, err = run(capsys, "info", str(picture), "--json")
    assert code == 0, err
    recipe = json.loads(out)[0]["recipe"]
    assert (recipe["sampler"], recipe["schedule_type"]) == ("DPM adaptive", "Align Your Steps")
    code, _, err = run(capsys, "again", str(picture))
    assert code == 2 and "'DPM adaptive' is an A1111 (k-diffusion) sampler" in err
