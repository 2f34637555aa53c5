"""The embedded model the package ships is the default of every entry point, and runs like any checkpoint.

The rest of the suite sets SFUMATO_DEFAULT_MODEL=sfumato-tiny for speed (tests/conftest.py); these tests take
it away, so they see what a new user gets: the trained sfumato-emoji, with no download.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from sfumato.cli import main
from sfumato.models.families import Family
from sfumato.models.library import EMBEDDED_MODEL, EMBEDDED_MODEL_FILE
from sfumato.picture import Picture
from sfumato.server import create_app
from sfumato.settings import Settings
from sfumato.studio import Studio

SAMPLERS = ("DPM++ 2M", "Euler a", "Euler", "DDIM", "DPM++ SDE", "UniPC")


@pytest.fixture(autouse=True)
def real_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFUMATO_DEFAULT_MODEL", raising=False)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SFUMATO_DEFAULT_MODEL", raising=False)
        opened = Studio.open(Settings(home=tmp_path_factory.mktemp("embedded-home")))
    yield opened
    opened.close()


def _draw(studio: Studio, prompt: str, **fields: object) -> Picture:
    (picture,) = studio.engine.run(studio.new_recipe({"prompt": prompt, "seed": 1, **fields}))
    return picture


def _pixels(picture: Picture) -> np.ndarray:
    return np.asarray(picture.image.convert("RGB"), dtype=np.int16)


def test_the_default_is_the_shipped_file_identified_like_any_checkpoint(studio: Studio) -> None:
    assert studio.settings.default_model == EMBEDDED_MODEL
    entry = studio.library.find(EMBEDDED_MODEL)
    assert entry.family is Family.SFUMATO_EMOJI and entry.path == EMBEDDED_MODEL_FILE
    assert entry.hashes is not None and len(entry.hashes.autov2) == 10
    assert "ships with sfumato" in entry.evidence
    assert entry.size <= 100 * 10**6  # the limit for committed weights


def test_a_recipe_with_no_model_gets_the_family_defaults(studio: Studio) -> None:
    recipe = studio.new_recipe({"prompt": "a red apple"})
    assert (recipe.model, recipe.width, recipe.height, recipe.steps, recipe.sampler) == (
        EMBEDDED_MODEL, 64, 64, 12, "DPM++ 2M")
    assert recipe.model_hash is not None


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_and_seeds_reproduce(studio: Studio, sampler: str) -> None:
    first, again = (_draw(studio, "a cat face, noto style", sampler=sampler) for _ in range(2))
    other = _draw(studio, "a cat face, noto style", sampler=sampler, seed=2)
    assert np.array_equal(_pixels(first), _pixels(again))
    assert np.abs(_pixels(first) - _pixels(other)).mean() > 2  # another seed is another picture
    assert first.warnings == ()


def test_pictures_are_emoji_on_white_not_noise(studio: Studio) -> None:
    # Every training picture is an emoji composited on white: a trained model draws a white border around a
    # coloured middle, an untrained one (sfumato-tiny) draws coloured noise everywhere.
    for prompt in ("a red apple", "a rocket, 3d style", "a smiling face, twemoji style", "a kitty"):
        pixels = _pixels(_draw(studio, prompt))
        border = np.concatenate([pixels[:4].reshape(-1, 3), pixels[-4:].reshape(-1, 3),
                                 pixels[:, :4].reshape(-1, 3), pixels[:, -4:].reshape(-1, 3)])
        middle = pixels[16:48, 16:48].reshape(-1, 3)
        assert border.mean() > 215, (prompt, border.mean())
        assert middle.mean() < border.mean() - 25, (prompt, middle.mean())


def test_inpainting_keeps_every_unmasked_pixel(studio: Studio) -> None:
    init = _draw(studio, "a red apple").image.convert("RGB")
    mask = Image.new("L", init.size, 0)
    mask.paste(255, (16, 16, 48, 48))
    init_hash = studio.inputs.put(init, kind="image")
    mask_hash = studio.inputs.put(mask, kind="mask")
    picture = _draw(studio, "a green apple", init_image_hash=init_hash, mask_hash=mask_hash,
                    denoising_strength=0.9, mask_blur=0)
    changed = np.abs(_pixels(picture) - np.asarray(init, dtype=np.int16)).max(axis=2) > 0
    assert not changed[np.asarray(mask) == 0].any()
    assert changed[np.asarray(mask) == 255].mean() > 0.5


def test_cli_generate_without_a_model_uses_it_and_again_matches(home: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "a kitty, 3d style", "--seed", "42"]) == 0
    path = Path(capsys.readouterr().out.strip())
    with Image.open(path) as image:
        assert image.size == (64, 64)
        parameters = image.text["parameters"]
    assert f"Model: {EMBEDDED_MODEL}," in parameters and "Model hash: " in parameters
    assert main(["again", str(path)]) == 0
    assert "pixels match" in capsys.readouterr().out


def test_a_prompt_longer_than_minilms_window_draws_and_names_the_unread_words(
        studio: Studio, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long_prompt = "a cat face, 3d style, " + ", ".join(f"detail{n}" for n in range(12)) + ", golden crown"
    picture = _draw(studio, long_prompt, steps=2)
    assert any("not read" in w and "golden crown" in w for w in picture.warnings)
    assert main(["generate", long_prompt, "--seed", "1", "--steps", "2"]) == 0
    captured = capsys.readouterr()
    assert "warning: prompt: this model reads 30 tokens" in captured.err and "golden crown" in captured.err
    assert captured.out.strip().endswith(".png")


def test_a1111_api_reports_and_uses_it(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path))) as client:
        options = client.get("/sdapi/v1/options").json()
        models = client.get("/sdapi/v1/sd-models").json()
        # A1111's API defaults (512 px, 50 steps) stay A1111's; a client asks for the model's size.
        answer = client.post("/sdapi/v1/txt2img", json={"prompt": "a pizza, flat style", "seed": 3, "width": 64,
                                                        "height": 64, "steps": 12})
    assert options["sd_model_checkpoint"] == EMBEDDED_MODEL
    assert EMBEDDED_MODEL in [model["model_name"] for model in models]
    assert answer.status_code == 200, answer.text
    info = answer.json()["info"]
    assert f'"sd_model_name": "{EMBEDDED_MODEL}"' in info or f"Model: {EMBEDDED_MODEL}" in info
