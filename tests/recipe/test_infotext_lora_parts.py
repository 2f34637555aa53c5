"""A1111's <lora:NAME:TE:UNET> in infotext: the UNet weight rides in the tag, or in sfumato's Adapters key."""

from __future__ import annotations

from sfumato.infotext import recipe_from_infotext, recipe_to_infotext
from sfumato.recipe import AdapterRef, recipe_from


def test_tag_with_a_unet_weight_round_trips_without_an_adapters_key() -> None:
    text = 'a cat <lora:ink:1:0.25>\nSteps: 3, Sampler: Euler, Seed: 1, Size: 64x64, Lora hashes: "ink: 0123456789ab"'
    recipe = recipe_from_infotext(text)
    assert recipe.adapters == (AdapterRef(name="ink", weight=1.0, unet_weight=0.25, hash="0123456789ab"),)
    written = recipe_to_infotext(recipe)
    assert "Adapters:" not in written and recipe_from_infotext(written) == recipe


def test_equal_parts_are_one_weight_and_explicit_parts_use_te_slash_unet() -> None:
    assert recipe_from_infotext("<lora:ink:0.5:0.5>\nSteps: 3, Seed: 1, Size: 64x64").adapters[0].unet_weight is None
    recipe = recipe_from({"prompt": "a cat", "adapters": [{"name": "ink", "weight": 0.8, "unet_weight": 0.3}]})
    written = recipe_to_infotext(recipe)
    assert 'Adapters: "lora:ink:0.8/0.3"' in written
    assert recipe_from_infotext(written) == recipe
