"""Variation seed, seed resize and prompt mixing in infotext: A1111's text reads, sfumato writes as A1111 does."""

from __future__ import annotations

import pytest

from sfumato.errors import RecipeError
from sfumato.infotext import recipe_from_infotext, recipe_to_infotext
from sfumato.recipe import Recipe, recipe_from

A1111_TEXT = (
    "an owl\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Variation seed: 1234, Variation seed strength: 0.25, "
    "Seed resize from: 512x512, Version: v1.10.1"
)


def test_a1111_variation_keys_read_into_fields() -> None:
    recipe = recipe_from_infotext(A1111_TEXT)
    assert (recipe.seed, recipe.subseed, recipe.subseed_strength) == (42, 1234, 0.25)
    assert (recipe.seed_resize_from_width, recipe.seed_resize_from_height) == (512, 512)
    assert recipe.extra == (("Version", "v1.10.1"),)
    # Written back in A1111's fixed slots, between Model and Denoising strength.
    assert "Model: v1-5-pruned-emaonly, Variation seed: 1234, Variation seed strength: 0.25, Seed resize from: " \
           "512x512, RNG: CPU" in recipe_to_infotext(recipe.replace(noise_source="cpu"))


def test_mix_prompt_is_written_only_when_there_is_one() -> None:
    plain = Recipe(prompt="a red apple")
    assert "Mix" not in recipe_to_infotext(plain)
    mixed = plain.replace(mix_prompt="a pear, ripe: sweet", mix_factor=0.5)
    text = recipe_to_infotext(mixed)
    assert 'Mix prompt: "a pear, ripe: sweet", Mix factor: 0.5' in text
    assert recipe_from_infotext(text) == mixed


@pytest.mark.parametrize(("fields", "message"), [
    ({"subseed_strength": 0.5}, "needs a subseed"),
    ({"mix_factor": 0.5}, "needs a mix_prompt"),
    ({"seed_resize_from_width": 512}, "go together"),
    ({"subseed": 1, "subseed_strength": 1.5}, "subseed_strength"),
])
def test_incomplete_variation_fields_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe_from(fields)
