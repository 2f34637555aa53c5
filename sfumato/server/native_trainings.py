"""Native API, trainings: the LoRA, DreamBooth, embedding and base-model runs under <home>/training, running
or not.

What `sfumato train status` shows, for the web studio's queue; read from the run folders, so torch stays unloaded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sfumato.server.deps import StudioDep
from sfumato.train.runs import TrainingRun, training_runs

router = APIRouter(prefix="/api", tags=["trainings"])


class Training(BaseModel):
    """One training run, from its folder's status.json, plan.json and log.jsonl."""

    name: str = Field(description="The run's folder name (embedding runs: embedding-TOKEN).")
    kind: Literal["lora", "dreambooth", "embedding", "base"]
    state: Literal["running", "finished", "stopped", "failed", "interrupted", "unknown"] = Field(
        description="stopped: Ctrl+C after a checkpoint (--resume continues it); interrupted: the process died; "
                    "unknown: a base run started before `train base` recorded its process.")
    step: int = Field(description="Steps done (while running, from the run log).")
    steps: int = Field(description="Steps the plan asks for.")
    last_loss: float | None = Field(description="The loss of the last logged step.")
    eta_s: float | None = Field(description="Seconds left at the current step rate; only while running.")
    started_at: datetime | None = Field(description="When the run first started (kept across resumes).")
    updated_at: datetime = Field(description="The last checkpoint or logged step.")
    output: str | None = Field(description="The file the run made (LoRA, embedding or model), once finished.")
    phase: str | None = Field(default=None, description="Base runs: 'vae' then 'unet'; step and steps are its.")

    @classmethod
    def of(cls, run: TrainingRun) -> Training:
        def when(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, tz=UTC)

        return cls(name=run.name, kind=run.kind, state=run.state, step=run.step, steps=run.steps,
                   last_loss=run.last_loss, eta_s=run.eta_s, output=run.output, updated_at=when(run.updated_at),
                   phase=run.phase,
                   started_at=None if run.started_at is None else when(run.started_at))


@router.get("/trainings")
def list_trainings(studio: StudioDep) -> list[Training]:
    """Training runs, most recently updated first (what `sfumato train status` lists)."""
    return [Training.of(run) for run in training_runs(studio.settings.home)]
