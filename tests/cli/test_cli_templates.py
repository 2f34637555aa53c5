"""CLI: templates, themes and styles end to end on the tiny model (generate -> picture metadata -> info/again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from sfumato.cli import main
from sfumato.picture_file import read_metadata
from sfumato.prompt.dynamic import resolve_random

FAST = ["--steps", "2", "--size", "64x64", "--sampler", "Euler"]
TEMPLATE = "a {red|green|blue|gold|pink} {owl|cat|fox|heron|otter}, __moods__"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_batch_of_four_from_a_template_gets_four_resolved_prompts(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "wildcards").mkdir()
    (home / "wildcards" / "moods.txt").write_text("cozy\nhappy\nsleepy\n", encoding="utf-8")
    code, out, err = run(capsys, "generate", TEMPLATE, "--batch", "4", "--seed", "3", "--out", str(tmp_path / "a"),
                         "--json", *FAST)
    assert code == 0, err
    items = json.loads(out)
    prompts = [item["recipe"]["prompt"] for item in items]
    assert len(set(prompts)) == 4 and not any("{" in p or "__" in p for p in prompts)
    assert [item["recipe"]["seed"] for item in items] == [3, 4, 5, 6]
    assert all(item["recipe"]["prompt_template"] == TEMPLATE for item in items)
    # The same seed draws the same prompts again: each picture's from its own seed.
    assert resolve_random(TEMPLATE, [3, 4, 5, 6], home / "wildcards") == prompts
    assert resolve_random(TEMPLATE, [4], home / "wildcards") == prompts[1:2]
    first = Path(items[0]["path"])
    with Image.open(first) as image:
        infotext = image.text["parameters"]
    assert infotext.startswith(prompts[0] + "\n") and f'Template: "{TEMPLATE}"' in infotext
    assert read_metadata(first).recipe.prompt_template == TEMPLATE
    code, out, err = run(capsys, "again", str(first))  # the resolved prompt makes the picture again
    assert code == 0 and "pixels match" in out, err


def test_unknown_wildcard_exits_2_naming_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "generate", "an owl, __colours__", "--seed", "1", *FAST)
    assert code == 2
    flat = "".join(err.split())  # the console wraps long lines
    assert "unknownwildcard'__colours__'" in flat and str(home / "wildcards") in flat and "column9" in flat


def test_theme_with_extra_text_and_styles(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    theme = {"theme": "owl", "prompt": {"subject": ["owl", "anthropomorphic"], "style": "(watercolor)+"},
             "negative_prompt": "cars", "settings": {"steps": 2, "cfg": 5}}
    path = tmp_path / "owl.yaml"
    path.write_text(yaml.safe_dump(theme, sort_keys=False), encoding="utf-8")
    assert run(capsys, "styles", "save", "Night", "--prompt", "{prompt}, at night", "--negative", "sun")[0] == 0
    code, out, err = run(capsys, "generate", "--theme", str(path), "carrying groceries", "--style", "Night",
                         "--seed", "9", "--size", "64x64", "--json")
    assert code == 0, err
    recipe = json.loads(out)[0]["recipe"]
    assert recipe["prompt"] == "owl, anthropomorphic, (watercolor)+, carrying groceries, at night"
    assert recipe["negative_prompt"] == "cars, sun"
    assert (recipe["steps"], recipe["guidance_scale"], recipe["styles"]) == (2, 5.0, ["Night"])
    assert recipe["theme"] == "owl" and len(recipe["theme_hash"]) == 12
    code, out, _ = run(capsys, "info", json.loads(out)[0]["path"])
    assert code == 0 and "Theme: owl, Theme hash: " in out and "styles applied: Night" in out


def test_styles_commands(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "styles", "list")[1].startswith("no styles")
    assert run(capsys, "styles", "save", "Ink", "--prompt", "ink, lineart")[1].startswith("added style 'Ink'")
    assert run(capsys, "styles", "save", "Ink", "--prompt", "ink")[1].startswith("replaced style 'Ink'")
    assert "prompt: ink\n" in run(capsys, "styles", "show", "Ink")[1]
    assert json.loads(run(capsys, "styles", "list", "--json")[1]) == [
        {"name": "Ink", "prompt": "ink", "negative_prompt": ""}]
    assert run(capsys, "styles", "delete", "Ink")[0] == 0
    code, _, err = run(capsys, "styles", "show", "Ink")
    assert code == 2 and "unknown style 'Ink'" in err


def test_prompt_parse_says_it_is_a_template(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prompt", "parse", "--json", "a {red|blue} (owl:1.2)", "plain")
    assert code == 0, err
    first, second = json.loads(out)
    assert (first["combinations"], first["first_combination"]) == (2, "a red (owl:1.2)")
    assert first["sub_prompts"][0]["schedule"][0][2] == [["a red ", 1.0], ["owl", 1.2]]
    assert "combinations" not in second
    code, out, _ = run(capsys, "prompt", "explain", "a {red|blue} owl")
    assert code == 0 and out.startswith("template: 2 combination(s)")
