"""CLI img2img, inpainting, outpainting and hires fix on the built-in tiny model, and `again` on their pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _picture(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(path)
    return path


def _recipe(out: str) -> dict[str, object]:
    items = json.loads(out)
    assert len(items) == 1
    recipe: dict[str, object] = items[0]["recipe"]
    return recipe | {"path": items[0]["path"]}


def test_img2img_takes_the_init_image_size_and_again_matches(
        home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    init = _picture(tmp_path / "sketch.png")
    code, out, err = run(capsys, "generate", "an owl", "--init-image", str(init), "--steps", "4", "--seed", "3",
                         "--json")
    assert code == 0, err
    recipe = _recipe(out)
    assert (recipe["width"], recipe["height"], recipe["denoising_strength"]) == (64, 48, 0.75)
    assert (home / "library" / ".inputs" / f"{recipe['init_image_hash']}.png").is_file()
    with Image.open(str(recipe["path"])) as picture:
        assert "Denoising strength: 0.75" in picture.text["parameters"]
    init.unlink()  # the library's copy is what `again` uses
    code, out, err = run(capsys, "again", str(recipe["path"]))
    assert code == 0, err + out


def test_inpainting_options_reach_the_recipe(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    init = _picture(tmp_path / "photo.png")
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (16, 8, 40, 32))
    mask.save(tmp_path / "mask.png")
    code, out, err = run(
        capsys, "generate", "a hat", "--init-image", str(init), "--mask", str(tmp_path / "mask.png"), "--steps", "4",
        "--strength", "0.6", "--mask-blur", "0", "--inpaint-area", "only-masked", "--padding", "8",
        "--masked-content", "latent nothing", "--json")
    assert code == 0, err
    recipe = _recipe(out)
    assert (recipe["inpaint_area"], recipe["inpaint_padding"], recipe["masked_content"]) == \
        ("only masked", 8, "latent nothing")
    after = np.asarray(Image.open(str(recipe["path"])), dtype=np.int16)
    before = np.asarray(Image.open(init), dtype=np.int16)
    outside = np.asarray(mask) == 0
    np.testing.assert_array_equal(after[outside], before[outside])


def test_outpainting_keeps_the_original_region(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    init = _picture(tmp_path / "small.png", (32, 32), seed=4)
    code, out, err = run(capsys, "generate", "a beach", "--init-image", str(init), "--outpaint", "left=16,down=8",
                         "--mask-blur", "0", "--steps", "4", "--json")
    assert code == 0, err
    recipe = _recipe(out)
    assert (recipe["width"], recipe["height"], recipe["masked_content"]) == (48, 40, "fill")
    assert recipe["mask_hash"] is not None
    after = np.asarray(Image.open(str(recipe["path"])), dtype=np.int16)
    np.testing.assert_array_equal(after[0:32, 16:48], np.asarray(Image.open(init), dtype=np.int16))
    assert np.abs(after[:, :16] - after[:, 16:17]).mean() > 0  # the margin was painted, not just stretched
    # With the default mask blur (4 px) the seam is softened; beyond the blur's reach the original stays exact.
    code, out, err = run(capsys, "generate", "a beach", "--init-image", str(init), "--outpaint", "left=16,down=8",
                         "--steps", "4", "--json")
    assert code == 0, err
    blurred = np.asarray(Image.open(str(_recipe(out)["path"])), dtype=np.int16)
    np.testing.assert_array_equal(blurred[0:18, 30:48], np.asarray(Image.open(init), dtype=np.int16)[0:18, 14:32])
    assert np.abs(blurred[0:32, 16:48] - after[0:32, 16:48]).max() > 0  # the seam itself was blended


def test_hires_fix_doubles_the_size_and_writes_a1111_keys(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "a fox", "--size", "32x32", "--steps", "3", "--hires",
                         "--hires-steps", "2", "--json")
    assert code == 0, err
    recipe = _recipe(out)
    with Image.open(str(recipe["path"])) as picture:
        assert picture.size == (64, 64)
        text = picture.text["parameters"]
    assert "Size: 32x32" in text and "Denoising strength: 0.7" in text
    assert "Hires upscale: 2.0, Hires steps: 2, Hires upscaler: Latent" in text
    code, out, err = run(capsys, "again", str(recipe["path"]))
    assert code == 0, err + out



def test_hires_pass_with_its_own_sampler_and_prompt_is_made_again(home: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "a fox", "--size", "32x32", "--steps", "3", "--hires", "--hires-steps",
                         "2", "--hires-sampler", "Euler a", "--hires-schedule", "Simple", "--hires-prompt",
                         "a sharp fox", "--hires-negative", "blurry", "--json")
    assert code == 0, err
    recipe = _recipe(out)
    with Image.open(str(recipe["path"])) as picture:
        text = picture.text["parameters"]
    assert ("Hires sampler: Euler a, Hires prompt: a sharp fox, Hires negative prompt: blurry, "
            "Hires schedule type: Simple, Hires upscale: 2.0") in text
    code, out, err = run(capsys, "again", str(recipe["path"]))
    assert code == 0, err + out


@pytest.mark.parametrize(("argv", "message"), [
    (["--mask", "m.png"], "--mask and --outpaint need an --init-image"),
    (["--init-image", "nowhere.png"], "--init-image: cannot read"),
    (["--init-image", "p.png", "--outpaint", "left=10"], "--outpaint: left must be a multiple of 8"),
    (["--init-image", "p.png", "--outpaint", "sideways=8"], "SIDE=PIXELS"),
    (["--hires-steps", "3"], "need --hires"),
    (["--hires-prompt", "sharp"], "need --hires"),
    (["--hires", "--hires-sampler", "Eulr"], "hires_sampler"),
    (["--hires-upscaler", "4x-UltraSharp"], "hires_upscaler: sfumato has no upscaler '4x-UltraSharp'"),
    (["--init-image", "p.png", "--masked-content", "blank"], "masked_content"),
])
def test_bad_image_options_exit_2_naming_the_option(
        home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    _picture(tmp_path / "p.png")
    code, out, err = run(capsys, "generate", "x", "--steps", "2", "--size", "32x32", *argv)
    assert code == 2, out + err
    assert message in err
