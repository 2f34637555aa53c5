"""Prompt mixing (latent walks): conditioning interpolation, exact at both ends, with prompt editing too."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from sfumato.engine.prompt_mix import mix_schedules
from sfumato.errors import RecipeError
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.prompt.schedule import build_conditioning_schedule
from sfumato.settings import Settings
from sfumato.studio import Studio

FAST = {"steps": 4, "width": 32, "height": 32, "seed": 2}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("home")))
    yield opened
    opened.close()


def _pixels(studio: Studio, **fields: object) -> np.ndarray:
    return np.asarray(studio.engine.run(studio.new_recipe({**FAST, **fields}))[0].image)


def test_mixed_schedule_switches_where_either_prompt_does() -> None:
    pipe = build_tiny_pipeline(Family.SFUMATO_TINY, seed=0)
    editing = build_conditioning_schedule(pipe, "[a cat:a dog:0.5]", "", 4)
    plain = build_conditioning_schedule(pipe, "a pear", "", 4)
    mixed = mix_schedules(editing, plain, 0.25)
    switches = [e.end_at_step for e in editing.positive[0].entries]
    assert len(switches) == 2 and [e.end_at_step for e in mixed.positive[0].entries] == switches
    for step in range(4):
        a, b = editing.at_step(step).positives[0][0], plain.at_step(step).positives[0][0]
        torch.testing.assert_close(mixed.at_step(step).positives[0][0].embeds, a.embeds * 0.75 + b.embeds * 0.25)
    assert torch.equal(mix_schedules(editing, plain, 0.0).at_step(3).positives[0][0].embeds,
                       editing.at_step(3).positives[0][0].embeds)
    with pytest.raises(RecipeError, match="AND"):
        mix_schedules(build_conditioning_schedule(pipe, "a AND b", "", 4), plain, 0.5)


def test_mix_factor_ends_are_the_two_prompts_pictures(studio: Studio) -> None:
    first = _pixels(studio, prompt="[a cat:a dog:0.5]", negative_prompt="blur")
    second = _pixels(studio, prompt="a pear", negative_prompt="blur")
    common = {"prompt": "[a cat:a dog:0.5]", "negative_prompt": "blur", "mix_prompt": "a pear"}
    np.testing.assert_array_equal(_pixels(studio, **common, mix_factor=0.0), first)
    np.testing.assert_array_equal(_pixels(studio, **common, mix_factor=1.0), second)
    halfway = _pixels(studio, **common, mix_factor=0.5)
    assert not np.array_equal(halfway, first) and not np.array_equal(halfway, second)
