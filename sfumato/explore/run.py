"""Making a grid or a walk: each planned Recipe goes through `make` (the Studio, or the job queue) into a
catalog collection, then the sheets or animations are assembled beside the pictures in that collection's folder.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from sfumato.atomic_write import atomic_write_bytes
from sfumato.explore.animation import write_animations
from sfumato.explore.grid import AXIS_NAMES, GridPlan
from sfumato.explore.grid_image import GRID_SUFFIX, SheetLayout, draw_sheet, write_sheet
from sfumato.explore.walk import WalkPlan
from sfumato.recipe import Recipe
from sfumato.studio import SavedPicture


class MakeFn(Protocol):
    """Makes one recipe's pictures and saves them in `collection` (Studio.generate, or a queued job)."""

    def __call__(self, recipe: Recipe, *, collection: str) -> list[SavedPicture]: ...


@dataclass(frozen=True)
class GridResult:
    sheets: tuple[Path, ...]
    cells: tuple[SavedPicture, ...]
    collection: str


@dataclass(frozen=True)
class WalkResult:
    frames: tuple[SavedPicture, ...]
    files: tuple[Path, ...]  # the animations, then the JSON manifest
    notes: tuple[str, ...]
    collection: str


def new_stamp() -> str:
    """A name part that sorts by time and does not clash: UTC time plus 24 random bits."""
    return f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def collection_folder(library_root: Path, collection: str) -> Path:
    return library_root.joinpath(*collection.split("/"))


def _load(saved: SavedPicture) -> Image.Image:
    with Image.open(saved.path) as image:
        return image.convert("RGB")


def run_grid(plan: GridPlan, *, make: MakeFn, library_root: Path, collection: str, stamp: str) -> GridResult:
    """Make every cell (saved in `collection`), then one sheet per Z value beside them."""
    cells = [make(cell.recipe, collection=collection)[0] for cell in plan.cells]
    folder = collection_folder(library_root, collection)
    x_axis, y_axis, z_axis = plan.axes
    per_sheet = plan.count(0) * plan.count(1)
    sheets = []
    for z in range(plan.count(2)):
        chunk = range(z * per_sheet, (z + 1) * per_sheet)
        title = None if z_axis is None else z_axis.labels[z]
        sheet, layout = draw_sheet([_load(cells[i]) for i in chunk], columns=plan.count(0),
                                   column_labels=x_axis.labels if x_axis else (),
                                   row_labels=y_axis.labels if y_axis else (), title=title)
        name = f"grid-{stamp}" + (f"-z{z + 1}" if plan.count(2) > 1 else "") + GRID_SUFFIX
        metadata = _sheet_metadata(plan, z, title, layout, [(i, cells[i]) for i in chunk], folder)
        sheets.append(write_sheet(folder / name, sheet, metadata))
    return GridResult(tuple(sheets), tuple(cells), collection)


def _sheet_metadata(plan: GridPlan, z: int, title: str | None, layout: SheetLayout,
                    cells: Sequence[tuple[int, SavedPicture]], folder: Path) -> dict[str, Any]:
    axes = [
        {"axis": name, "name": axis.name, "label": axis.spec.label, "values": list(axis.values),
         "value_labels": list(axis.labels)}
        for name, axis in zip(AXIS_NAMES, plan.axes) if axis is not None
    ]
    return {
        "axes": axes, "z_index": z, "z_label": title, "columns": plan.count(0), "rows": plan.count(1),
        "cell_size": [layout.cell_width, layout.cell_height], "column_width": layout.column_width,
        "origin": [layout.left, layout.top],
        "base": plan.base.model_dump(mode="json"),
        "cells": [
            {"x": plan.cells[i].x, "y": plan.cells[i].y, "z": plan.cells[i].z, "picture_id": saved.picture_id,
             "at": list(layout.cell_origin(plan.cells[i].x, plan.cells[i].y)),
             "file": saved.path.relative_to(folder).as_posix() if folder in saved.path.parents else str(saved.path),
             "recipe": saved.recipe.model_dump(mode="json")}
            for i, saved in cells
        ],
    }


def run_walk(plan: WalkPlan, *, make: MakeFn, library_root: Path, collection: str, stamp: str, fps: int,
             formats: Sequence[str]) -> WalkResult:
    """Make every frame (saved in `collection`), then the animations and a JSON manifest beside them."""
    frames = [make(recipe, collection=collection)[0] for recipe in plan.frames]
    folder = collection_folder(library_root, collection)
    stem = folder / f"walk-{stamp}"
    written, notes = write_animations([_load(frame) for frame in frames], stem, fps=fps, formats=formats)
    manifest = {
        "schema_version": 1, "fps": fps, "to_seed": plan.to_seed, "to_prompt": plan.to_prompt,
        "start": plan.start.model_dump(mode="json"), "animations": [path.name for path in written],
        "frames": [{"t": t, "picture_id": frame.picture_id, "file": frame.path.name}
                   for t, frame in zip(plan.factors, frames)],
    }
    manifest_path = stem.with_name(f"{stem.name}.json")
    atomic_write_bytes(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return WalkResult(tuple(frames), (*written, manifest_path), tuple(notes), collection)
