"""`sfumato again` and `sfumato info` on a picture made with each feature merged for issues #5, #7 and #8."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sfumato.cli import main
from sfumato.picture_file import read_metadata

FAST = ("--steps", "2", "--size", "32x32", "--seed", "5", "--json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


KINDS = {
    "template": ("a {red|blue} __animal__",),
    "theme": ("--theme", "HOME/owl.yaml", "<lora:ink:0.3> at night"),
    "style with a LoRA tag": ("an owl", "--style", "Ink"),
    "lora and hires fix": ("a <lora:ink:0.8> owl", "--hires", "--hires-steps", "2"),
    "lora parts, embedding, hires lanczos": ("a <lora:ink:0.5:1> owl, inkstyle", "--hires", "--hires-steps", "2",
                                             "--hires-upscaler", "Lanczos"),
    "embedding and img2img": ("an owl, inkstyle", "--init-image", "HOME/init.png"),
    "embedding and inpainting": ("an owl, inkstyle", "--init-image", "HOME/init.png", "--mask", "HOME/mask.png"),
    "lora and only-masked inpainting": ("a <lora:ink:0.7> owl", "--init-image", "HOME/init.png", "--mask",
                                        "HOME/mask.png", "--inpaint-area", "only-masked", "--padding", "4"),
    "template and init image": ("a {red|blue} __animal__", "--init-image", "HOME/init.png"),
    "variation seed and embedding": ("inkstyle owl", "--variation-seed", "7", "--variation-strength", "0.5"),
    "AND and hires fix": ("an owl AND a cat :0.5", "--hires", "--hires-steps", "2"),
    "variation seed, seed resize and hires fix": ("a <lora:ink:0.4> owl", "--variation-seed", "7",
                                                  "--variation-strength", "0.4", "--seed-resize-from", "48x48",
                                                  "--hires", "--hires-steps", "2"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_again_matches_and_info_reads_it(home: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    args = [arg.replace("HOME", str(home)) for arg in KINDS[kind]]
    code, out, err = run(capsys, "generate", *args, *FAST)
    assert code == 0, err
    (item,) = json.loads(out)
    path = Path(item["path"])
    code, out, err = run(capsys, "again", str(path))
    assert code == 0 and "pixels match (0 differ)" in out, err + out
    code, out, err = run(capsys, "info", str(path))
    assert code == 0, err
    recipe = read_metadata(path).recipe
    assert recipe.prompt in out
    names = {adapter.name for adapter in recipe.adapters}
    assert ("<lora:ink" in recipe.prompt) == ("ink" in names)  # every LoRA tag was applied and recorded
    assert ("inkstyle" in recipe.prompt) == ("inkstyle" in names)


def test_a_lora_tagged_twice_with_two_weights_is_said(seam_home: Path) -> None:
    # A style adding a LoRA the prompt already tags: the first weight is applied (the infotext reader's rule);
    # A1111 would add both, so the picture says so instead of dropping the second weight quietly.
    from sfumato.settings import Settings
    from sfumato.studio import Studio

    studio = Studio.open(Settings(home=seam_home))
    try:
        # what the Ink style ("{prompt}, <lora:ink:0.7>") makes of a prompt that tags ink itself
        recipe = studio.new_recipe({"prompt": "an owl <lora:ink:0.6>, <lora:ink:0.7>", "seed": 1, "steps": 2,
                                    "width": 32, "height": 32})
        (picture,) = studio.engine.run(recipe)
    finally:
        studio.close()
    assert [(a.name, a.weight) for a in picture.recipe.adapters] == [("ink", 0.6)]
    assert "<lora:ink> is tagged 2 times with weights 0.6, 0.7: only the first, 0.6, is applied" in picture.warnings
