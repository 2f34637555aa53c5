"""LoRAs applied by the engine: same pixels as diffusers' own load_lora_weights, weights, several at once, switching."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from sfumato.engine.generate import generate
from sfumato.engine.local import LocalEngine
from sfumato.errors import ModelNotFound, RecipeError
from sfumato.models.library import ModelKind
from sfumato.picture_file import read_metadata
from sfumato.settings import Settings
from sfumato.studio import Studio
from tests.models.tiny_loras import lora_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return lora_home(tmp_path_factory.mktemp("lora-home"))


@pytest.fixture(scope="module")
def studio(home: Path) -> Iterator[Studio]:
    opened = Studio.open(Settings(home=home))
    yield opened
    opened.close()


def _pixels(studio: Studio, prompt: str, **fields: object) -> np.ndarray:
    recipe = studio.new_recipe({"prompt": prompt, "seed": 7, "steps": 3, "width": 64, "height": 64, **fields})
    (picture,) = studio.engine.run(recipe)
    return np.asarray(picture.image, dtype=np.int16)


@pytest.mark.parametrize(("name", "path"), [
    ("ink", "models/Lora/ink.safetensors"), ("styles/locon", "models/Lora/styles/locon.safetensors"),
    ("peft", "models/loras/peft.safetensors"),
])
def test_sfumato_gives_the_pixels_of_diffusers_load_lora_weights(studio: Studio, home: Path, name: str,
                                                                   path: str) -> None:
    recipe = studio.new_recipe({"prompt": f"an owl <lora:{name}:0.7>", "seed": 3, "steps": 3})
    ours = np.asarray(studio.engine.run(recipe)[0].image, dtype=np.int16)
    # The same model loaded by a second engine, the LoRA loaded by hand exactly as diffusers documents it.
    direct = LocalEngine(studio.library, probe=studio.engine.probe).load(recipe)  # type: ignore[attr-defined]
    direct.pipe.load_lora_weights(str(home / path), adapter_name="by_hand")
    direct.pipe.set_adapters(["by_hand"], [0.7])
    theirs = np.asarray(generate(recipe, model=direct)[0].image, dtype=np.int16)
    base = _pixels(studio, "an owl", seed=3)
    assert np.abs(ours - base).max() > 0, "the LoRA changed nothing"
    np.testing.assert_array_equal(ours, theirs)


def test_weight_zero_equals_no_lora_and_two_loras_differ_from_each(studio: Studio) -> None:
    base = _pixels(studio, "a cat")
    assert np.array_equal(_pixels(studio, "a cat <lora:ink:0>"), base)
    ink, locon = _pixels(studio, "a cat <lora:ink:1>"), _pixels(studio, "a cat <lora:locon:1>")
    both = _pixels(studio, "a cat <lora:ink:1> <lora:locon:1>")
    assert np.abs(ink - base).max() > 0 and np.abs(locon - base).max() > 0
    assert np.abs(both - ink).max() > 0 and np.abs(both - locon).max() > 0
    half = _pixels(studio, "a cat <lora:ink:0.5>")
    assert np.abs(half - ink).max() > 0 and np.abs(half - base).max() > 0


def test_switching_back_to_no_lora_gives_base_pixels_and_keeps_files_loaded(studio: Studio) -> None:
    base = _pixels(studio, "a fox")
    with_lora = _pixels(studio, "a fox <lora:ink:1>")
    loaded = studio.engine.cache.loaded  # type: ignore[attr-defined]
    adapter = next(name for name, path in loaded.loras.files.items() if path.name == "ink.safetensors")
    layer = next(m for m in loaded.pipe.unet.modules() if hasattr(m, "lora_A") and adapter in m.lora_A)
    weight = layer.lora_A[adapter].weight
    assert np.array_equal(_pixels(studio, "a fox"), base)  # bit-identical base after a LoRA
    assert np.array_equal(_pixels(studio, "a fox <lora:ink:1>"), with_lora)
    assert layer.lora_A[adapter].weight is weight, "the same LoRA was loaded again"


def test_picture_records_lora_hashes_and_again_reproduces_it(studio: Studio) -> None:
    recipe = studio.new_recipe({"prompt": "a boat <lora:ink:0.8>, <lora:locon:0.6>", "seed": 11, "steps": 3})
    lora_hash = studio.library.find("ink", ModelKind.LORA).hashes.lora_hash  # type: ignore[union-attr]
    assert [(a.name, a.weight, a.hash) for a in recipe.adapters][0] == ("ink", 0.8, lora_hash)
    (saved,) = studio.generate(recipe)
    infotext = read_metadata(saved.path).infotext
    assert f'Lora hashes: "ink: {lora_hash}, locon: {recipe.adapters[1].hash}"' in infotext
    assert "<lora:ink:0.8>" in infotext.splitlines()[0]  # the prompt keeps its tags, as A1111's does
    assert "Adapters:" not in infotext  # the tags and hashes say it all
    assert read_metadata(saved.path).recipe.adapters == recipe.adapters
    assert studio.again_or_raise(saved.path).matches


def test_wrong_family_and_loha_are_refused_naming_the_file(studio: Studio) -> None:
    with pytest.raises(RecipeError, match=r"xl\.safetensors.*Stable Diffusion XL.*sfumato-tiny") as error:
        studio.engine.run(studio.new_recipe({"prompt": "a cat <lora:xl:1>", "steps": 2}))
    assert error.value.field == "adapters"
    with pytest.raises(RecipeError, match=r"LoHa"):
        studio.new_recipe({"prompt": "a cat <lora:loha:1>"})
    with pytest.raises(ModelNotFound, match="no lora named 'missing'"):
        studio.new_recipe({"prompt": "a cat <lora:missing:1>"})
    # The refused recipes left the pipeline usable.
    assert np.abs(_pixels(studio, "a cat <lora:ink:1>") - _pixels(studio, "a cat")).max() > 0


def test_sdxl_kohya_lora_in_sgm_naming(studio: Studio, home: Path) -> None:
    recipe = studio.new_recipe({"model": "tiny-xl", "prompt": "a hill <lora:xl:0.9>", "seed": 2, "steps": 2,
                                 "width": 64, "height": 64})
    ours = np.asarray(studio.engine.run(recipe)[0].image, dtype=np.int16)
    direct = LocalEngine(studio.library, probe=studio.engine.probe).load(recipe)  # type: ignore[attr-defined]
    direct.pipe.load_lora_weights(str(home / "models/Lora/xl.safetensors"), adapter_name="by_hand")
    direct.pipe.set_adapters(["by_hand"], [0.9])
    np.testing.assert_array_equal(ours, np.asarray(generate(recipe, model=direct)[0].image, dtype=np.int16))
    base = _pixels(studio, "a hill", model="tiny-xl", seed=2, steps=2)
    assert np.abs(ours - base).max() > 0
    with pytest.raises(RecipeError, match="made for Stable Diffusion 1.x"):
        studio.engine.run(studio.new_recipe({"model": "tiny-xl", "prompt": "<lora:ink:1> a hill", "steps": 2,
                                                          "width": 64, "height": 64}))


def test_a_hand_built_recipe_with_only_a_tag_says_the_tag_was_not_applied(studio: Studio) -> None:
    recipe = studio.new_recipe({"prompt": "a cat", "seed": 1, "steps": 2}).replace(prompt="a cat <lora:ink:1>")
    (picture,) = studio.engine.run(recipe)
    assert any("<lora:ink>" in warning for warning in picture.warnings)


def test_a1111_separate_text_encoder_and_unet_weights(studio: Studio, home: Path) -> None:
    recipe = studio.new_recipe({"prompt": "a cat <lora:ink:1:0.25>", "seed": 1, "steps": 3, "width": 64,
                                "height": 64})
    assert [(a.name, a.weight, a.unet_weight) for a in recipe.adapters] == [("ink", 1.0, 0.25)]
    (picture,) = studio.engine.run(recipe)
    ours = np.asarray(picture.image, dtype=np.int16)
    direct = LocalEngine(studio.library, probe=studio.engine.probe).load(recipe)  # type: ignore[attr-defined]
    direct.pipe.load_lora_weights(str(home / "models/Lora/ink.safetensors"), adapter_name="by_hand")
    direct.pipe.set_adapters(["by_hand"], [{"unet": 0.25, "text_encoder": 1.0}])
    np.testing.assert_array_equal(ours, np.asarray(generate(recipe, model=direct)[0].image, dtype=np.int16))
    same = _pixels(studio, "a cat <lora:ink:1>", seed=1)
    assert np.abs(ours - same).max() > 0
    assert np.array_equal(_pixels(studio, "a cat <lora:ink:1:1>", seed=1), same)
    (odd,) = studio.engine.run(recipe.replace(prompt="a cat <lora:ink:1:0.25:8>"))
    assert any("8 not applied" in warning for warning in odd.warnings)


def test_least_recently_used_files_are_unloaded_beyond_the_limit(studio: Studio,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sfumato.engine.lora as lora_module

    monkeypatch.setattr(lora_module, "MAX_LOADED", 2)
    ink = _pixels(studio, "a cow <lora:ink:1>")
    _pixels(studio, "a cow <lora:locon:1>")
    _pixels(studio, "a cow <lora:peft:1>")
    loaded = studio.engine.cache.loaded  # type: ignore[attr-defined]
    assert sorted(path.name for path in loaded.loras.files.values()) == ["locon.safetensors", "peft.safetensors"]
    assert np.array_equal(_pixels(studio, "a cow <lora:ink:1>"), ink)  # loaded again, the same pixels


def test_a_lora_file_changed_since_the_recipe_is_noted(studio: Studio) -> None:
    recipe = studio.new_recipe({"prompt": "a cat <lora:ink:1>", "seed": 1, "steps": 2, "width": 64, "height": 64})
    stale = recipe.replace(adapters=[recipe.adapters[0].model_copy(update={"hash": "000000000000"})])
    (picture,) = studio.engine.run(stale)
    assert any("'ink' changed since the recipe was made" in warning for warning in picture.warnings)
