"""Native API, jobs: submit a Recipe, list, get and cancel jobs, stream a job's events, interrupt and skip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field

from sfumato.catalog.store import validate_collection
from sfumato.jobs import Job, JobState
from sfumato.server.deps import LimitsDep, StudioDep
from sfumato.errors import RecipeError
from sfumato.prompt.request import PromptOptions, recipes_for
from sfumato.prompt.themes import themes_folder
from sfumato.recipe import Recipe
from sfumato.server.native_inputs import job_image_fields

router = APIRouter(prefix="/api", tags=["jobs"])
JOB_ID = Path(pattern=r"^[0-9a-f]{16}$", description="A job id (16 hex characters).")
_EVENT_POLL_S = 0.15  # how often a stream looks for news; the queue's version counter makes a look cheap


class JobRequest(BaseModel):
    """A Recipe to make. Fields left out come from the model family's defaults; seed -1 picks one."""

    model_config = ConfigDict(extra="forbid")

    recipe: dict[str, Any] = Field(
        default_factory=dict, description="Recipe fields (see the Recipe schema): prompt, model, steps, ...",
        examples=[{"prompt": "a lighthouse at dusk", "steps": 20, "seed": -1}],
    )
    styles: list[str] = Field(default_factory=list, description="Prompt styles from styles.csv to apply first.")
    theme: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_. -]{0,63}$",
                              description="A theme by name, from themes/ in the sfumato home (issue #5).")
    combinatorial: bool = Field(default=False, description="Make every combination of a template's variants "
                                "(default: random mode, picture i's variant drawn from seed + i).")
    priority: int = Field(default=0, ge=-100, le=100, description="Higher runs first.")
    collection: str = Field(default="unsorted", description="Library collection the pictures go to.")
    requested_by: str = Field(default="api", pattern=r"^[a-z0-9_-]{1,32}$", description="Who asked: api, web, ...")
    # img2img / inpainting / outpainting (issue #7): inline images, kept in the library by hash.
    init_image: str | None = Field(default=None, description="img2img init picture, base64 (or upload to /api/inputs).")
    mask: str | None = Field(default=None, description="Inpainting mask, base64; white = repaint.")
    outpaint: str | None = Field(default=None, description="Extend the init picture, e.g. 'left=64,down=32'.")


@router.post("/jobs", status_code=status.HTTP_201_CREATED)
def submit_job(request: JobRequest, studio: StudioDep, limits: LimitsDep) -> Job:
    """Queue a Recipe; returns the job (poll it, or stream /api/jobs/{id}/events)."""
    recipes = _recipes(request, studio, limits)
    if len(recipes) > 1:
        raise RecipeError(f"prompt: this template makes {len(recipes)} pictures, each its own Recipe and job; "
                          "POST it to /api/jobs/many", field="prompt")
    return _submit(request, studio, recipes[0])


@router.post("/jobs/many", status_code=status.HTTP_201_CREATED)
def submit_jobs(request: JobRequest, studio: StudioDep, limits: LimitsDep) -> list[Job]:
    """Queue a request that may be a template: one job per resolved Recipe (one for a plain prompt)."""
    return [_submit(request, studio, recipe) for recipe in _recipes(request, studio, limits)]


def _recipes(request: JobRequest, studio: StudioDep, limits: LimitsDep) -> list[Recipe]:
    # Theme, styles and template expansion happen here, once, at the edge (sfumato/prompt/request.py).
    fields = dict(request.recipe)
    fields |= job_image_fields(studio, fields, init_image=request.init_image, mask=request.mask,
                               outpaint=request.outpaint)
    validate_collection(request.collection)
    theme = None if request.theme is None else str(themes_folder(studio.settings.home) / request.theme)
    options = PromptOptions(styles=tuple(request.styles), theme=theme,
                            mode="combinatorial" if request.combinatorial else "random")
    recipes = recipes_for(fields, options, home=studio.settings.home, new_recipe=studio.new_recipe)
    limits.check_count(len(recipes))
    return [limits.check(recipe) for recipe in recipes]


def _submit(request: JobRequest, studio: StudioDep, recipe: Recipe) -> Job:
    return studio.jobs.submit(recipe, priority=request.priority, requested_by=request.requested_by,
                              collection=request.collection)


@router.get("/jobs")
def list_jobs(studio: StudioDep, state: Annotated[list[JobState], Query()] = [],  # noqa: B006 (FastAPI query)
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[Job]:
    """Jobs, newest first, optionally only those in the given states."""
    return studio.jobs.list_jobs(state, limit=limit)


def existing_job(studio: StudioDep, job_id: Annotated[str, JOB_ID]) -> Job:
    return studio.jobs.get(job_id)


@router.get("/jobs/{job_id}")
def get_job(job: Annotated[Job, Depends(existing_job)]) -> Job:
    return job


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job: Annotated[Job, Depends(existing_job)], studio: StudioDep) -> Job:
    """Take a queued job off the queue, or stop a running one after its current step."""
    return studio.jobs.cancel(job.id)


@router.get("/jobs/{job_id}/events", response_class=EventSourceResponse)
async def job_events(job: Annotated[Job, Depends(existing_job)], studio: StudioDep) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: a `job` event (the Job, with `progress`) on every change, until it is finished."""
    version, last = -1, None
    while not studio.jobs.is_closed:
        if studio.jobs.version != version:
            version = studio.jobs.version
            current = studio.jobs.get(job.id)
            payload = current.model_dump(mode="json")
            if payload != last:
                last = payload
                yield ServerSentEvent(data=payload, event="job", id=str(version))
            if current.state.is_final:
                return
        await asyncio.sleep(_EVENT_POLL_S)


@router.post("/queue/interrupt")
def interrupt(studio: StudioDep) -> Job | None:
    """Stop the running job after its current step (pictures already made are kept)."""
    return studio.jobs.interrupt()


@router.post("/queue/skip")
def skip(studio: StudioDep) -> Job | None:
    """Stop the running batch and go on with the job's next batch."""
    return studio.jobs.skip()
