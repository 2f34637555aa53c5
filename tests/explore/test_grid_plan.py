"""Grid plans: one Recipe per cell, axes applied x then y then z, errors naming the cell."""

from __future__ import annotations

import pytest

from sfumato.errors import BadInput, RecipeError
from sfumato.explore.axes import parse_axis
from sfumato.explore.grid import plan_grid
from sfumato.recipe import AdapterRef, Recipe

BASE = Recipe(prompt="a cat in Oslo", negative_prompt="blurry cat", seed=5, batch_size=2)


def test_cells_cover_every_combination_in_order() -> None:
    plan = plan_grid(BASE, (parse_axis("Prompt S/R: cat, dog"), parse_axis("seed: 1-3"),
                            parse_axis("sampler: Euler a, DPM++ 2M")))
    assert len(plan.cells) == 2 * 3 * 2
    cell = plan.cell(1, 2, 1)
    assert (cell.x, cell.y, cell.z) == (1, 2, 1)
    assert (cell.recipe.prompt, cell.recipe.negative_prompt) == ("a dog in Oslo", "blurry dog")
    assert (cell.recipe.seed, cell.recipe.sampler, cell.recipe.batch_size) == (3, "DPM++ 2M", 1)
    assert plan.cell(0, 0, 0).recipe.prompt == "a cat in Oslo"
    # DPM++ 2M's own default (Karras) does not stick to Euler a, which has none; a chosen schedule does.
    assert [c.recipe.schedule_type for c in plan.cells[:1] + plan.cells[-1:]] == ["Automatic", "Karras"]
    chosen = plan_grid(BASE.replace(schedule_type="Exponential"), (parse_axis("sampler: DPM++ 2M, Euler"), None, None))
    assert [c.recipe.schedule_type for c in chosen.cells] == ["Exponential", "Exponential"]


def test_model_axis_forgets_the_base_models_hashes_and_adapter_axis_sets_weights() -> None:
    base = BASE.replace(model="sfumato-tiny", model_hash="abcdef0123", prompt="a cat <lora:ink:0.8>",
                        adapters=(AdapterRef(name="ink", weight=0.8),))
    plan = plan_grid(base, (parse_axis("model: sfumato-tiny, other"), parse_axis("adapter ink: 0.2, 1"), None))
    assert plan.cell(0, 0, 0).recipe.model_hash == "abcdef0123"
    assert plan.cell(1, 0, 0).recipe.model_hash is None
    cell = plan.cell(0, 1, 0).recipe
    assert cell.adapters[0].weight == 1.0 and cell.prompt == "a cat <lora:ink:1.0>"


def test_bad_cells_and_empty_grids_are_refused() -> None:
    with pytest.raises(BadInput, match="not in the prompt"):
        plan_grid(BASE, (parse_axis("Prompt S/R: horse, dog"), None, None))
    with pytest.raises(RecipeError, match=r"grid cell x='Steps: 0'.*steps"):
        plan_grid(BASE, (parse_axis("steps: 0, 1"), None, None))
    with pytest.raises(BadInput, match="at least one axis"):
        plan_grid(BASE, (None, None, None))
