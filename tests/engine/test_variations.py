"""Variations (A1111 variation seed and strength) on the tiny model: noise, batches, pictures, `again`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sfumato.engine.noise import draw_noise, slerp
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.picture_file import read_metadata
from sfumato.recipe import Recipe
from sfumato.settings import Settings
from sfumato.studio import Studio

BASE = {"prompt": "a red apple", "seed": 11, "steps": 2, "width": 32, "height": 32}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("home")))
    yield opened
    opened.close()


def _pixels(studio: Studio, **fields: object) -> list[np.ndarray]:
    recipe = studio.new_recipe({**BASE, **fields})
    return [np.asarray(picture.image) for picture in studio.engine.run(recipe)]


def test_slerp_follows_a1111_at_both_ends_and_between() -> None:
    low = torch.randn((4, 8, 8), generator=torch.Generator().manual_seed(1))
    high = torch.randn((4, 8, 8), generator=torch.Generator().manual_seed(2))
    assert torch.equal(slerp(1.0, low, high), high)  # sin(w)/sin(w) is exactly 1
    torch.testing.assert_close(slerp(0.0, low, high), low)
    # Unit columns (dim 1) stay on the unit sphere, and halfway is at equal angles to both ends.
    low_unit, high_unit = low / low.norm(dim=1, keepdim=True), high / high.norm(dim=1, keepdim=True)
    middle = slerp(0.5, low_unit, high_unit)
    torch.testing.assert_close(middle.norm(dim=1), torch.ones(4, 8))
    torch.testing.assert_close((middle * low_unit).sum(1), (middle * high_unit).sum(1))
    # Nearly parallel noises take A1111's weighted sum, with its weights as written (low * val + high * (1 - val)).
    assert torch.equal(slerp(0.25, low, low * 1.0001), low * 0.25 + low * 1.0001 * 0.75)


def test_drawn_noise_is_what_the_pipeline_would_draw() -> None:
    pipe = build_tiny_pipeline(Family.SFUMATO_TINY, seed=0)
    recipe = Recipe(**BASE)
    ours = draw_noise(pipe, recipe, torch.Generator().manual_seed(5))
    pipe.scheduler.set_timesteps(2)
    theirs = pipe.prepare_latents(1, pipe.unet.config.in_channels, 32, 32, pipe.text_encoder.dtype,
                                  torch.device("cpu"), [torch.Generator().manual_seed(5)])
    assert torch.equal(ours * pipe.scheduler.init_noise_sigma, theirs)


def test_strength_zero_is_the_seed_picture_and_strength_one_the_subseed_picture(studio: Studio) -> None:
    plain = _pixels(studio)[0]
    np.testing.assert_array_equal(_pixels(studio, subseed=99, subseed_strength=0.0)[0], plain)
    np.testing.assert_array_equal(_pixels(studio, subseed=99, subseed_strength=1.0)[0], _pixels(studio, seed=99)[0])
    between = _pixels(studio, subseed=99, subseed_strength=0.3)[0]
    assert not np.array_equal(between, plain)


def test_batch_keeps_the_seed_and_steps_the_subseed(studio: Studio) -> None:
    recipe = studio.new_recipe({**BASE, "subseed": 40, "subseed_strength": 0.4, "batch_size": 2, "batch_count": 2})
    pictures = studio.engine.run(recipe)
    assert [(p.recipe.seed, p.recipe.subseed) for p in pictures] == [(11, 40), (11, 41), (11, 42), (11, 43)]
    # Each picture is its own picture-level recipe made alone: batching changes nothing.
    for picture in pictures[1:3]:
        alone = studio.engine.run(picture.recipe)[0]
        np.testing.assert_array_equal(np.asarray(alone.image), np.asarray(picture.image))
    assert not np.array_equal(np.asarray(pictures[0].image), np.asarray(pictures[1].image))


def test_without_a_variation_batches_step_the_seed(studio: Studio) -> None:
    recipe = studio.new_recipe({**BASE, "subseed": 40, "batch_size": 2})
    assert [(p.recipe.seed, p.recipe.subseed) for p in studio.engine.run(recipe)] == [(11, 40), (12, 41)]


def test_ancestral_sampler_keeps_drawing_from_the_seed_generator(studio: Studio) -> None:
    # At strength 1 the start noise is the subseed's, but Euler a's per-step noise still comes from the seed's
    # generator after its first draw (A1111's ImageRNG): so the picture is neither plain picture.
    varied = _pixels(studio, sampler="Euler a", subseed=99, subseed_strength=1.0)[0]
    assert not np.array_equal(varied, _pixels(studio, sampler="Euler a", seed=99)[0])
    np.testing.assert_array_equal(varied, _pixels(studio, sampler="Euler a", subseed=99, subseed_strength=1.0)[0])


def test_saved_variation_is_made_again_exactly(studio: Studio) -> None:
    recipe = studio.new_recipe({**BASE, "subseed": 7, "subseed_strength": 0.25, "batch_size": 2})
    saved = studio.generate(recipe)
    second: Path = saved[1].path
    meta = read_metadata(second)
    assert (meta.recipe.seed, meta.recipe.subseed, meta.recipe.subseed_strength) == (11, 8, 0.25)
    assert "Variation seed: 8, Variation seed strength: 0.25" in (meta.infotext or "")
    assert studio.again(second).matches


def test_random_subseed_is_chosen_once(studio: Studio) -> None:
    recipe = studio.new_recipe({**BASE, "subseed": -1, "subseed_strength": 0.1})
    assert recipe.subseed is not None and 0 <= recipe.subseed < 2**32
