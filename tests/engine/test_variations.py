"""Variations (A1111 variation seed and strength) on the tiny model: noise, batches, pictures, `again`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sfumato.engine.noise import draw_noise, slerp, variation_latents
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


def test_seed_resize_centres_the_seed_noise_drawn_at_another_size() -> None:
    pipe = build_tiny_pipeline(Family.SFUMATO_TINY, seed=0)

    def latents(**fields: object) -> torch.Tensor:
        recipe = Recipe(**{**BASE, **fields})
        result = variation_latents(pipe, recipe, [torch.Generator().manual_seed(recipe.seed)],
                                   [recipe.image_subseed(0)])
        assert result is not None
        return result

    def plain(width: int, height: int, seed: int = 11) -> torch.Tensor:
        return draw_noise(pipe, Recipe(**{**BASE, "width": width, "height": height}),
                          torch.Generator().manual_seed(seed))

    assert variation_latents(pipe, Recipe(**BASE, seed_resize_from_width=32, seed_resize_from_height=32),
                             [torch.Generator().manual_seed(11)], [None]) is None  # same size: nothing to do
    f = pipe.vae_scale_factor  # the picture's latents are (1, C, 32/f, 32/f)
    a = 8 // f  # a 16 px noise sits 8 px in, centred in 32 px
    smaller = latents(seed_resize_from_width=16, seed_resize_from_height=16)
    assert torch.equal(smaller[:, :, a:a + 16 // f, a:a + 16 // f], plain(16, 16))
    assert torch.equal(smaller[:, :, 0], plain(32, 32)[:, :, 0])  # the border keeps the picture's own noise
    larger = latents(seed_resize_from_width=64, seed_resize_from_height=48)  # cut to its middle
    assert torch.equal(larger, plain(64, 48)[:, :, 8 // f:40 // f, 16 // f:48 // f])
    varied = latents(seed_resize_from_width=16, seed_resize_from_height=16, subseed=5, subseed_strength=1.0)
    assert torch.equal(varied[:, :, a:a + 16 // f, a:a + 16 // f], plain(16, 16, seed=5))


def test_seed_resize_picture_is_made_again(studio: Studio) -> None:
    saved = studio.generate(studio.new_recipe({**BASE, "seed_resize_from_width": 16, "seed_resize_from_height": 24}))
    assert "Seed resize from: 16x24" in (read_metadata(saved[0].path).infotext or "")
    assert studio.again(saved[0].path).matches
    assert not np.array_equal(np.asarray(Image.open(saved[0].path)), _pixels(studio)[0])
