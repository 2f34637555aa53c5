"""Fusing LoRAs into a model: a new library model whose pictures equal the unfused model + LoRAs; the CLI command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from sfumato.cli import main
from sfumato.engine.fuse import fuse_loras
from sfumato.errors import BadInput
from sfumato.models.families import Family
from sfumato.models.identify import identify
from sfumato.settings import Settings
from sfumato.studio import Studio
from tests.models.tiny_loras import lora_home


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    torch.set_num_threads(1)
    opened = Studio.open(Settings(home=lora_home(tmp_path_factory.mktemp("fuse-home"))))
    yield opened
    opened.close()


def _pixels(studio: Studio, model: str, prompt: str) -> np.ndarray:
    recipe = studio.new_recipe({"model": model, "prompt": prompt, "seed": 5, "steps": 3, "width": 64,
                                 "height": 64})
    return np.asarray(studio.engine.run(recipe)[0].image, dtype=np.int16)


@pytest.mark.parametrize(("base", "family", "loras", "tags"), [
    ("sfumato-tiny", Family.SFUMATO_TINY, [("ink", 0.8), ("locon", 0.5)], "<lora:ink:0.8> <lora:locon:0.5>"),
    ("tiny-xl", Family.SDXL, [("xl", 0.7)], "<lora:xl:0.7>"),
])
def test_fused_model_equals_the_unfused_model_with_its_loras(studio: Studio, base: str, family: Family,
                                                             loras: list[tuple[str, float]], tags: str) -> None:
    path = fuse_loras(studio.library, base, loras, name=f"{base}-fused")
    assert identify(path).family is family  # an ordinary model file, identified from its tensors
    fused = _pixels(studio, f"{base}-fused", "a cat")
    unfused = _pixels(studio, base, f"a cat {tags}")
    plain = _pixels(studio, base, "a cat")
    # Fusing adds the same products into the weights in another order: float rounding, not a change of picture.
    assert np.abs(fused - unfused).max() <= 3 and np.abs(fused - unfused).mean() < 0.5
    assert np.abs(fused - plain).max() > 10


def test_fuse_refuses_a_taken_name_and_a_wrong_family(studio: Studio) -> None:
    with pytest.raises(BadInput, match="--name: a model named 'tiny-xl' already exists"):
        fuse_loras(studio.library, "sfumato-tiny", [("ink", 1.0)], name="tiny-xl")
    with pytest.raises(Exception, match="made for Stable Diffusion XL"):
        fuse_loras(studio.library, "sfumato-tiny", [("xl", 1.0)], name="never-written")
    assert not list(studio.library.folders(studio.library.scan()[0].kind)[0].glob("never-written*"))


def test_cli_models_fuse_prints_the_new_model(studio: Studio, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(studio.settings.home)
    code = main(["--home", home, "models", "fuse", "sfumato-tiny", "--lora", "peft:0.6", "--name", "peft-tiny"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert Path(out.strip()).name == "peft-tiny.safetensors"
    code = main(["--home", home, "models", "fuse", "sfumato-tiny", "--lora", "peft:lots", "--name", "x"])
    assert code == 2 and "NAME:WEIGHT" in capsys.readouterr().err
