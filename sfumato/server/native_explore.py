"""Native API, exploring: POST /api/grids (X/Y/Z grids) and /api/walks (latent walks).

Each cell or frame is a Recipe queued as its own job (the same queue as /api/jobs, so it shows in the queue
and can be cancelled); the request answers once all are made and the sheets or animations are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from sfumato.catalog.store import validate_collection
from sfumato.errors import BadInput, SfumatoError
from sfumato.explore.axes import Axis, parse_axis
from sfumato.explore.grid import GridPlan, expand_template, place_axes, plan_grid
from sfumato.explore.grid_image import GRID_SUFFIX, sheet_or_none
from sfumato.explore.run import new_stamp, run_grid, run_walk
from sfumato.explore.walk import MAX_FRAMES, plan_walk
from sfumato.jobs import JobState
from sfumato.recipe import Recipe
from sfumato.server.a1111_routes import JobFailed
from sfumato.server.deps import LimitsDep, StudioDep
from sfumato.server.limits import Limits
from sfumato.studio import SavedPicture, Studio

router = APIRouter(prefix="/api", tags=["explore"])
AnimationFormat = Literal["webp", "gif", "mp4"]
_ALL_FORMATS: tuple[AnimationFormat, ...] = ("webp", "gif", "mp4")


class GridRequest(BaseModel):
    """A base recipe and up to three axes as `NAME: VALUES` (A1111 xyz_grid syntax); {a|b} prompt groups fill
    free axes."""

    model_config = ConfigDict(extra="forbid")

    recipe: dict[str, Any] = Field(default_factory=dict, examples=[{"prompt": "a portrait of a {nurse|CEO}"}])
    x: str | None = Field(default=None, examples=["seed: 1-3"])
    y: str | None = Field(default=None, examples=["sampler: Euler a, DPM++ 2M"])
    z: str | None = None
    collection: str | None = Field(default=None, description="Default: a new collection under grids/.")


class WalkRequest(BaseModel):
    """A start recipe and where to walk: another seed (noise slerp) and/or another prompt (conditioning mix)."""

    model_config = ConfigDict(extra="forbid")

    recipe: dict[str, Any] = Field(default_factory=dict, examples=[{"prompt": "a red apple", "seed": 1}])
    to_seed: int | None = None
    to_prompt: str | None = None
    frames: int = Field(default=8, ge=2, le=MAX_FRAMES)
    fps: int = Field(default=8, ge=1, le=60)
    formats: list[AnimationFormat] = Field(default_factory=lambda: list(_ALL_FORMATS))
    collection: str | None = Field(default=None, description="Default: a new collection under walks/.")


class ExploreResult(BaseModel):
    collection: str
    picture_ids: list[str]
    files: list[str] = Field(description="Sheets or animations, relative to the library folder.")
    notes: list[str] = []
    sheets: list[dict[str, Any]] = Field(default=[], description="Each grid sheet's metadata (axes, cell places).")


class GridPlanView(BaseModel):
    """What a grid request would make, before it runs (the web studio shows progress over `cells`)."""

    cells: int
    axes: list[dict[str, Any]]


def _queued_maker(studio: Studio, limits: Limits) -> Any:
    def make(recipe: Recipe, *, collection: str) -> list[SavedPicture]:
        recipe = limits.check(studio.completed(recipe))
        job = studio.jobs.wait(studio.jobs.submit(recipe, requested_by="explore", collection=collection).id)
        if job.state is not JobState.DONE:
            raise JobFailed(f"{collection}: a job of it ended {job.state.value}: {job.error}")
        records = [studio.catalog.get(pid) for pid in job.picture_ids]
        return [SavedPicture(r.absolute_path(studio.catalog.root), r.recipe, r.id) for r in records]

    return make


def _relative(studio: Studio, paths: tuple[Path, ...]) -> list[str]:
    return [path.relative_to(studio.catalog.root).as_posix() for path in paths]


@router.post("/grids")
def make_grid(request: GridRequest, studio: StudioDep, limits: LimitsDep) -> ExploreResult:
    """Make an X/Y/Z grid: every cell saved as a picture, one labelled sheet per Z value."""
    plan = _grid_plan(request, studio, limits)
    stamp = new_stamp()
    collection = validate_collection(request.collection or f"grids/{stamp}")
    result = run_grid(plan, make=_queued_maker(studio, limits), library_root=studio.catalog.root,
                      collection=collection, stamp=stamp)
    return ExploreResult(collection=collection, picture_ids=[c.picture_id or "" for c in result.cells],
                         files=_relative(studio, result.sheets),
                         sheets=[sheet for path in result.sheets if (sheet := sheet_or_none(path)) is not None])


def _grid_plan(request: GridRequest, studio: Studio, limits: Limits) -> GridPlan:
    texts = (request.x, request.y, request.z)
    given: list[Axis | None] = [None if text is None else parse_axis(text) for text in texts]
    fields = dict(request.recipe)
    fields["prompt"], templated = expand_template(str(fields.get("prompt") or ""))
    return plan_grid(limits.check(studio.new_recipe(fields)), place_axes((given[0], given[1], given[2]), templated))


@router.post("/grids/plan")
def plan_grid_only(request: GridRequest, studio: StudioDep, limits: LimitsDep) -> GridPlanView:
    """Check a grid request and say how many cells it makes, without queuing anything."""
    plan = _grid_plan(request, studio, limits)
    axes = [{"axis": name, "label": axis.spec.label, "value_labels": list(axis.labels)}
            for name, axis in zip("xyz", plan.axes) if axis is not None]
    return GridPlanView(cells=len(plan.cells), axes=axes)


class ExploreFileNotFound(SfumatoError):
    """No grid sheet or walk file at the path asked for."""

    exit_code = 3
    http_status = 404


# Only what grids and walks write beside their pictures; the pictures themselves go through /api/pictures.
_EXPLORE_SUFFIXES = (GRID_SUFFIX, ".webp", ".gif", ".mp4", ".json")


@router.get("/explore-files/{path:path}", response_class=FileResponse)
def explore_file(path: str, studio: StudioDep) -> FileResponse:
    """A grid sheet or walk animation named by a path from `files` (relative to the library folder)."""
    root = studio.catalog.root.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not path.endswith(_EXPLORE_SUFFIXES):
        raise BadInput(f"path: must be a grid sheet or walk file inside the library (got {path!r})")
    if not target.is_file():
        raise ExploreFileNotFound(f"path: no such grid or walk file {path!r}")
    return FileResponse(target)


@router.post("/walks")
def make_walk(request: WalkRequest, studio: StudioDep, limits: LimitsDep) -> ExploreResult:
    """Make a latent walk: every frame saved as a picture, then the animations beside them."""
    start = limits.check(studio.new_recipe(request.recipe))
    plan = plan_walk(start, frames=request.frames, to_seed=request.to_seed, to_prompt=request.to_prompt)
    stamp = new_stamp()
    collection = validate_collection(request.collection or f"walks/{stamp}")
    result = run_walk(plan, make=_queued_maker(studio, limits), library_root=studio.catalog.root,
                      collection=collection, stamp=stamp, fps=request.fps, formats=request.formats)
    return ExploreResult(collection=collection, picture_ids=[f.picture_id or "" for f in result.frames],
                         files=_relative(studio, result.files), notes=list(result.notes))
