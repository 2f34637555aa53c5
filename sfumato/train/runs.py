"""Training runs as `sfumato train status` and the studio's queue show them: kind, live step, loss, ETA, times.

torch-free: it reads the run folders under <home>/training (status.json, plan.json, the tail of log.jsonl), and
`sfumato train base` folders (run.json) there or wherever `train status` is pointed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

from sfumato.errors import BadInput
from sfumato.train.base.tracking import MODEL_FILE
from sfumato.train.lora.run import RunStatus, State, read_status, runs_root

Kind = Literal["lora", "dreambooth", "embedding", "base"]
# "unknown": a base run without a status.json (started before `train base` wrote one) that has not finished.
RunState = State | Literal["unknown"]
_TAIL_BYTES: Final = 64 * 1024  # enough log lines to measure the step rate; a long run's log is not read whole


@dataclass(frozen=True)
class TrainingRun:
    """One run. `step` and `updated_at` come from the run log while it trains (status.json only moves at
    checkpoints); `eta_s` is set while it runs, from the step rate since it (re)started. A base run has two phases
    (vae, then unet): `step`/`steps` are the current phase's, and its ETA is the UNet phase's only."""

    name: str
    folder: Path
    kind: Kind
    state: RunState
    step: int
    steps: int
    last_loss: float | None
    eta_s: float | None
    started_at: float | None
    updated_at: float
    output: str | None
    phase: str | None = None  # base runs: "vae" or "unet"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "folder": str(self.folder)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def run_kind(plan: dict[str, Any]) -> Kind:
    """An embedding plan says so; a LoRA plan with an instance prompt is DreamBooth's (cli/train_dreambooth.py)."""
    if plan.get("kind") == "embedding":
        return "embedding"
    return "dreambooth" if plan.get("instance_prompt") else "lora"


def log_tail(log: Path) -> list[dict[str, Any]]:
    """The last rows of log.jsonl that parse (a row being written, or cut by the tail window, is left out)."""
    try:
        with log.open("rb") as file:
            start = max(0, file.seek(0, os.SEEK_END) - _TAIL_BYTES)
            file.seek(start)
            lines = file.read().decode("utf-8", "replace").splitlines()[1 if start else 0:]
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and isinstance(row.get("seconds"), int | float):
            rows.append(row)
    return rows


def seconds_per_step(rows: list[dict[str, Any]]) -> float | None:
    """From the rows of the latest session: `seconds` restarts from 0 when a run is resumed."""
    if not rows:
        return None
    first = len(rows) - 1
    while first > 0 and _follows(rows[first - 1], rows[first]):
        first -= 1
    if first == len(rows) - 1:  # one step so far: its time since the loop started
        return float(rows[-1]["seconds"])
    seconds = float(rows[-1]["seconds"]) - float(rows[first]["seconds"])
    return seconds / (int(rows[-1]["step"]) - int(rows[first]["step"]))


def _follows(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return bool(before["seconds"] < after["seconds"] and before["step"] < after["step"])


def describe(status: RunStatus) -> TrainingRun:
    step, updated, eta = status.step, status.updated_at, None
    rows = log_tail(status.folder / "log.jsonl") if status.state == "running" else []
    if rows:
        step = max(step, int(rows[-1]["step"]))
        updated = max(updated, (status.folder / "log.jsonl").stat().st_mtime)
        per_step = seconds_per_step(rows)
        eta = None if per_step is None else round(per_step * max(0, status.steps - step), 1)
    started = _read_json(status.folder / "status.json").get("started_at")
    return TrainingRun(
        name=status.name, folder=status.folder, kind=run_kind(_read_json(status.folder / "plan.json")),
        state=status.state, step=step, steps=status.steps, last_loss=status.last_loss, eta_s=eta,
        started_at=float(started) if isinstance(started, int | float) else None, updated_at=updated,
        output=status.output)


def describe_base(folder: Path) -> TrainingRun:
    """A `sfumato train base` run: phase and step from its log, running or not from the status.json that
    `train base` writes (as LoRA runs: the pid must be alive)."""
    plan = _read_json(folder / "run.json").get("plan", {})
    rows = log_tail(folder / "log.jsonl")
    last = rows[-1] if rows else {"phase": "vae", "step": 0}
    phase, step = str(last.get("phase", "vae")), int(last["step"])
    steps = int(plan.get("vae_steps" if phase == "vae" else "steps", 0))
    model = folder / MODEL_FILE
    finished = phase == "unet" and step >= steps and model.is_file()
    state: RunState = read_status(folder).state if (folder / "status.json").is_file() else (
        "finished" if finished else "unknown")
    per_step = seconds_per_step(rows) if state == "running" and phase == "unet" else None
    started = _read_json(folder / "status.json").get("started_at")
    loss = last.get("loss")
    return TrainingRun(
        name=folder.name, folder=folder, kind="base", state=state, step=step, steps=steps,
        last_loss=float(loss) if isinstance(loss, int | float) else None,
        eta_s=None if per_step is None else round(per_step * max(0, steps - step), 1),
        started_at=float(started) if isinstance(started, int | float) else None,
        updated_at=max(p.stat().st_mtime for p in (folder / "run.json", folder / "log.jsonl", folder / "status.json")
                       if p.is_file()),
        output=str(model) if state == "finished" and model.is_file() else None, phase=phase)


def describe_folder(folder: Path) -> TrainingRun | None:
    """The run in `folder` (a base run's run.json, or another run's status.json); None when it holds none."""
    if (folder / "run.json").is_file():
        return describe_base(folder)
    if (folder / "status.json").is_file():
        return describe(read_status(folder))
    return None


def training_runs(home: Path, name: str | None = None) -> list[TrainingRun]:
    """Every run under <home>/training, most recently updated first; or the one `name` names: a run there, or a
    run folder anywhere (a `train base --out` folder)."""
    if name is not None:
        for folder in (runs_root(home) / name, Path(name)):
            if (run := describe_folder(folder)) is not None:
                return [run]
        raise BadInput(f"train status: no run named {name!r} in {str(runs_root(home))!r}, and {name!r} is not "
                       "a run folder")
    root = runs_root(home)
    folders = sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
    runs = [run for run in map(describe_folder, folders) if run is not None]
    return sorted(runs, key=lambda run: run.updated_at, reverse=True)
