"""Recipe validation at the edge: every bad field gets a message naming the field, the value and the rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sfumato.errors import RecipeError
from sfumato.recipe import Recipe, recipe_from
from sfumato.sampler_names import SAMPLER_ALIASES, SAMPLER_NAMES, SCHEDULE_TYPE_NAMES, split_sampler_suffix


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"width": 513}, "width", ["multiple of 8", "513", "512", "520"]),
        ({"height": 0}, "height", ["greater than or equal to 8", "0"]),
        ({"steps": 0}, "steps", ["greater than or equal to 1", "0"]),
        ({"steps": 151}, "steps", ["less than or equal to 150", "151"]),
        ({"guidance_scale": -1}, "guidance_scale", ["greater than or equal to 0"]),
        ({"seed": -5}, "seed", ["greater than or equal to 0", "-5"]),
        ({"seed": 2**32}, "seed", ["less than or equal to 4294967295"]),
        ({"sampler": "Eular a"}, "sampler", ["unknown sampler", "'Eular a'", "Did you mean", "'Euler a'", "Allowed:"]),
        ({"schedule_type": "karas"}, "schedule_type", ["unknown schedule type", "'Karras'"]),
        ({"batch_size": 0}, "batch_size", ["greater than or equal to 1"]),
        ({"device": "tpu"}, "device", ["should match pattern", "'tpu'"]),
        ({"dtype": "fp8"}, "dtype", ["'fp32'", "'fp8'"]),
        ({"colour": "red"}, "colour", ["unknown field", "allowed fields", "prompt"]),
        ({"steps": "many"}, "steps", ["valid integer", "'many'"]),
    ],
)
def test_bad_fields_name_field_value_and_rule(fields: dict[str, object], field: str, words: list[str]) -> None:
    with pytest.raises(RecipeError) as caught:
        recipe_from({"prompt": "an otter", **fields})
    assert caught.value.field == field
    message = str(caught.value)
    assert message.startswith("invalid recipe: " + field)
    for word in words:
        assert word in message


def test_several_bad_fields_are_all_reported() -> None:
    with pytest.raises(RecipeError) as caught:
        recipe_from({"width": 100, "steps": 0})
    assert "width:" in str(caught.value) and "steps:" in str(caught.value)


def test_recipe_is_frozen_and_forbids_extra() -> None:
    recipe = recipe_from({"prompt": "x"})
    with pytest.raises(ValidationError):
        recipe.steps = 3  # type: ignore[misc]
    assert recipe.replace(steps=3).steps == 3


@pytest.mark.parametrize(("given", "sampler", "schedule"), [
    ("DPM++ 2M", "DPM++ 2M", "Karras"),  # A1111 resolves Automatic to the sampler's default schedule
    ("DPM++ 2M SDE", "DPM++ 2M SDE", "Exponential"),
    ("Euler a", "Euler a", "Automatic"),
    ("DPM++ 2M Karras", "DPM++ 2M", "Karras"),  # pre-1.9 spelling
    ("DPM++ 2M SDE Heun Exponential", "DPM++ 2M SDE Heun", "Exponential"),
    ("LMS Karras", "LMS", "Karras"),
    ("k_euler_a", "Euler a", "Automatic"),
    ("PNDM", "PLMS", "Automatic"),
    ("euler a", "Euler a", "Automatic"),
])
def test_sampler_names_resolve_like_a1111(given: str, sampler: str, schedule: str) -> None:
    recipe = recipe_from({"sampler": given})
    assert (recipe.sampler, recipe.schedule_type) == (sampler, schedule)


def test_explicit_schedule_type_is_kept_and_lowercase_names_accepted() -> None:
    assert recipe_from({"sampler": "DPM++ 2M", "schedule_type": "exponential"}).schedule_type == "Exponential"
    assert recipe_from({"sampler": "Euler", "schedule_type": "sgm_uniform"}).schedule_type == "SGM Uniform"


def test_alias_targets_and_schedule_suffixes_are_real_names() -> None:
    assert set(SAMPLER_ALIASES.values()) <= set(SAMPLER_NAMES)
    assert len(set(SCHEDULE_TYPE_NAMES)) == len(SCHEDULE_TYPE_NAMES)
    for name in SAMPLER_NAMES:
        assert split_sampler_suffix(name) == (name, None)


def test_image_seeds_follow_seed_plus_index_and_wrap() -> None:
    recipe = recipe_from({"seed": 2**32 - 2, "batch_size": 2, "batch_count": 2})
    assert [recipe.image_seed(i) for i in range(recipe.pictures_per_recipe)] == [2**32 - 2, 2**32 - 1, 0, 1]


def test_defaults_are_a_valid_recipe() -> None:
    recipe = Recipe()
    assert recipe.schema_version == 1 and recipe.noise_source == "cpu"
