"""Job data that crosses to the API: Job, JobState, JobProgress (frozen pydantic), and JobNotFound."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sfumato.errors import SfumatoError
from sfumato.recipe import Recipe

MAX_ATTEMPTS = 2  # a job running when the server died is retried once, then failed with the reason


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobNotFound(SfumatoError):
    """No job has the id asked for."""

    exit_code = 3
    http_status = 404


class QueueBusy(SfumatoError):
    """Another process already runs this home's jobs."""

    exit_code = 1
    http_status = 409


class JobProgress(BaseModel):
    """Where a running job is. Steps count across all its batches; `preview` is a PNG data URL or None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(description="load, sample or decode")
    batch: int = Field(description="0-based batch being made")
    batches: int
    step: int = Field(description="steps done in this batch")
    steps: int = Field(description="steps per batch")
    fraction: float = Field(ge=0.0, le=1.0, description="done over the whole job")
    eta_s: float | None = Field(description="seconds left, estimated from the steps so far")
    preview: str | None = Field(
        default=None, description="live preview: a PNG data URL of the current estimate, refreshed every few steps"
    )


class Job(BaseModel):
    """A Recipe plus who asked, when, and what became of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    state: JobState
    recipe: Recipe
    priority: int = Field(description="higher runs first; equal priorities run in submission order")
    requested_by: str = Field(description="which edge submitted it: api, sdapi, web, cli")
    collection: str
    save: bool = Field(description="save pictures to the library (A1111 save_images=false keeps them in memory)")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    error: str | None = Field(default=None, description="why it failed or stopped")
    note: str | None = Field(default=None, description="what happened to it besides, e.g. a retry after a crash")
    picture_ids: tuple[str, ...] = Field(default=(), description="library pictures made, in seed order")
    skipped: int = Field(default=0, description="batches skipped on request")
    progress: JobProgress | None = None
