"""Grids and walks over LoRAs and embeddings: the adapter axis and Prompt S/R over `<lora:...>` tags change the
LoRA actually applied; walks keep the start's LoRA and record the embeddings of both prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import main
from sfumato.picture_file import read_metadata
from sfumato.settings import Settings
from sfumato.studio import Studio

FAST = ("--steps", "2", "--size", "32x32", "--seed", "5", "--json")


def _cells(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    code = main([*argv, *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    cells: list[dict[str, object]] = json.loads(captured.out)["pictures"]
    return cells


def _weights(cell: dict[str, object]) -> list[tuple[str, float]]:
    recipe = read_metadata(Path(str(cell["path"]))).recipe
    return [(a.name, a.weight) for a in recipe.adapters if a.kind == "lora" and a.hash is not None]


def _pixels(cell: dict[str, object]) -> np.ndarray:
    with Image.open(str(cell["path"])) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_prompt_sr_over_a_lora_tag_changes_the_weight_applied(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: the tag changed in the prompt but the adapter read from it kept 0.5: three equal pictures.
    cells = _cells(capsys, "grid", "a <lora:ink:0.5> owl", "--x", "Prompt S/R: ink:0.5, ink:1, ink:0")
    assert [_weights(cell) for cell in cells] == [[("ink", 0.5)], [("ink", 1.0)], [("ink", 0.0)]]
    first, second, third = (_pixels(cell) for cell in cells)
    assert np.abs(first - second).sum() > 0 and np.abs(second - third).sum() > 0


def test_prompt_sr_can_add_and_remove_a_lora_tag(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    added = _cells(capsys, "grid", "an owl", "--x", "Prompt S/R: owl, <lora:ink:1> owl")
    assert [_weights(cell) for cell in added] == [[], [("ink", 1.0)]]  # the new tag is a hashed adapter
    assert np.abs(_pixels(added[0]) - _pixels(added[1])).sum() > 0
    removed = _cells(capsys, "grid", "an owl <lora:ink:1>", "--x", "Prompt S/R: owl <lora:ink:1>, owl")
    assert [_weights(cell) for cell in removed] == [[("ink", 1.0)], []]


def test_adapter_axis_on_a_real_lora_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cells = _cells(capsys, "grid", "an owl <lora:ink:0.5>", "--x", "adapter ink: 0, 1")
    assert [_weights(cell) for cell in cells] == [[("ink", 0.0)], [("ink", 1.0)]]
    plain = _cells(capsys, "grid", "an owl", "--x", "seed: 5")
    np.testing.assert_array_equal(_pixels(cells[0]), _pixels(plain[0]))  # weight 0 is no LoRA
    assert np.abs(_pixels(cells[0]) - _pixels(cells[1])).sum() > 0
    assert main(["again", str(cells[1]["path"])]) == 0


def test_walk_keeps_the_lora_on_every_frame(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _cells(capsys, "walk", "a <lora:ink:0.8> owl", "--to-seed", "9", "--frames", "3", "--formats", "gif")
    assert [_weights(frame) for frame in frames] == [[("ink", 0.8)]] * 3
    assert main(["again", str(frames[1]["path"])]) == 0


def test_prompt_mix_records_the_embeddings_of_both_prompts(seam_home: Path) -> None:
    # Regression: mixing rebuilt the conditioning without its embeddings, so none were recorded (nor checked).
    studio = Studio.open(Settings(home=seam_home))
    try:
        fast = {"seed": 1, "steps": 2, "width": 32, "height": 32}
        for prompt, mix in (("an owl, inkstyle", "a cat"), ("an owl", "a cat, inkstyle")):
            recipe = studio.new_recipe({"prompt": prompt, "mix_prompt": mix, "mix_factor": 0.5, **fast})
            (saved,) = studio.generate(recipe)
            assert [(a.name, a.kind) for a in saved.recipe.adapters] == [("inkstyle", "embedding")]
            assert studio.again(saved.path).matches
    finally:
        studio.close()


def test_a_lora_tag_only_in_the_walk_target_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: the tag in the mixed-in prompt was neither applied nor mentioned.
    code = main(["walk", "an owl", "--to-prompt", "a <lora:ink:1> cat", "--frames", "2", *FAST])
    captured = capsys.readouterr()
    assert code == 2 and "mix_prompt: LoRA tag <lora:ink:1.0>" in captured.err
    same = _cells(capsys, "walk", "an <lora:ink:1> owl", "--to-prompt", "a <lora:ink:1> cat", "--frames", "2",
                  "--formats", "gif")
    assert [_weights(frame) for frame in same] == [[("ink", 1.0)]] * 2


def test_a_template_group_inside_a_lora_tag_becomes_its_weight_axis(home: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cells = _cells(capsys, "grid", "an owl <lora:ink:{0.5|1}>")
    assert [_weights(cell) for cell in cells] == [[("ink", 0.5)], [("ink", 1.0)]]
