"""X/Y/Z grid plans: a base Recipe and up to three axes -> one Recipe per cell, applied x, then y, then z.

A templated prompt such as "a portrait of a {nurse|engineer|CEO} in {Lagos|Oslo|Lima}" becomes its first
choices ("a portrait of a nurse in Lagos") plus one Prompt S/R axis per `{...|...}` group, which fill the
axes the caller left free, in the order x, y, z.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from sfumato.errors import BadInput, RecipeError
from sfumato.explore.axes import AXES, Axis
from sfumato.recipe import Recipe, recipe_from

AXIS_NAMES: Final = ("x", "y", "z")
MAX_CELLS: Final = 1000  # a grid is one image in memory: 1000 cells of 512 px is already ~260 megapixels
_TEMPLATE_GROUP: Final = re.compile(r"\{([^{}|]*(?:\|[^{}|]*)+)\}")


@dataclass(frozen=True)
class GridCell:
    """One cell: its place along each axis and the recipe that makes its picture."""

    x: int
    y: int
    z: int
    recipe: Recipe


@dataclass(frozen=True)
class GridPlan:
    """Axes by position (None where unused) and every cell, z-major then rows then columns."""

    base: Recipe
    axes: tuple[Axis | None, Axis | None, Axis | None]
    cells: tuple[GridCell, ...]

    def count(self, position: int) -> int:
        axis = self.axes[position]
        return 1 if axis is None else len(axis.values)

    def cell(self, x: int, y: int, z: int) -> GridCell:
        return self.cells[(z * self.count(1) + y) * self.count(0) + x]


def expand_template(prompt: str) -> tuple[str, list[Axis]]:
    """The prompt with each `{a|b|c}` group replaced by its first choice, and one Prompt S/R axis per group."""
    groups = [match[1].split("|") for match in _TEMPLATE_GROUP.finditer(prompt)]
    for choices in groups:
        if not choices[0] or len(set(choices)) != len(choices):
            raise BadInput(f"prompt template group {{{'|'.join(choices)}}}: choices must be distinct and the first "
                           "must not be empty (it is what the other choices replace)")
    first = _TEMPLATE_GROUP.sub(lambda match: match[1].split("|")[0], prompt)
    return first, [Axis("Prompt S/R", AXES["prompt s/r"], tuple(choices)) for choices in groups]


def place_axes(given: tuple[Axis | None, Axis | None, Axis | None], templated: list[Axis]
               ) -> tuple[Axis | None, Axis | None, Axis | None]:
    """Put template axes on the free positions, x first; more groups than free axes is an error."""
    placed = list(given)
    free = [i for i, axis in enumerate(placed) if axis is None]
    if len(templated) > len(free):
        raise BadInput(f"the prompt has {len(templated)} {{a|b}} groups but only {len(free)} free grid axes",
                       hint="use at most three groups in all, or fewer --x/--y/--z axes")
    for position, axis in zip(free, templated):
        placed[position] = axis
    return placed[0], placed[1], placed[2]


def plan_grid(base: Recipe, axes: tuple[Axis | None, Axis | None, Axis | None]) -> GridPlan:
    """Every cell's Recipe (one picture each); raises BadInput/RecipeError naming the axis and value."""
    if all(axis is None for axis in axes):
        raise BadInput("a grid needs at least one axis (--x, --y or --z), or a {a|b} group in the prompt")
    counts = [1 if axis is None else len(axis.values) for axis in axes]
    if counts[0] * counts[1] * counts[2] > MAX_CELLS:
        raise BadInput(f"grid of {counts[0]}x{counts[1]}x{counts[2]} cells is over the limit of {MAX_CELLS}")
    start = base.model_dump() | {"batch_size": 1, "batch_count": 1}
    cells = []
    for z in range(counts[2]):
        for y in range(counts[1]):
            for x in range(counts[0]):
                cells.append(GridCell(x, y, z, _cell_recipe(base, start, axes, (x, y, z))))
    return GridPlan(base, axes, tuple(cells))


def _cell_recipe(base: Recipe, start: dict[str, Any], axes: tuple[Axis | None, ...], place: tuple[int, ...]) -> Recipe:
    fields = dict(start)
    for name, axis, index in zip(AXIS_NAMES, axes, place):
        if axis is not None:
            try:
                axis.apply(fields, index)
            except RecipeError as error:
                raise RecipeError(f"grid axis {name} ({axis.name}): {error.message}", field=error.field) from error
    if fields["model"] != base.model:  # the new model's hashes are looked up when the cell is made
        fields["model_hash"] = fields["model_sha256"] = None
    try:
        return recipe_from(fields)
    except RecipeError as error:
        labels = ", ".join(f"{n}={a.labels[i]!r}" for n, a, i in zip(AXIS_NAMES, axes, place) if a is not None)
        raise RecipeError(f"grid cell {labels}: {error.message}", field=error.field) from error
