"""Training runs as `sfumato train status` and the studio's queue show them: kind, live step, loss, ETA, times.

torch-free: it reads the run folders under <home>/training (status.json, plan.json, the tail of log.jsonl).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

from sfumato.train.lora.run import RunStatus, State, list_runs

Kind = Literal["lora", "dreambooth", "embedding"]
_TAIL_BYTES: Final = 64 * 1024  # enough log lines to measure the step rate; a long run's log is not read whole


@dataclass(frozen=True)
class TrainingRun:
    """One run. `step` and `updated_at` come from the run log while it trains (status.json only moves at
    checkpoints); `eta_s` is set while it runs, from the step rate since it (re)started."""

    name: str
    folder: Path
    kind: Kind
    state: State
    step: int
    steps: int
    last_loss: float | None
    eta_s: float | None
    started_at: float | None
    updated_at: float
    output: str | None

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


def training_runs(home: Path, name: str | None = None) -> list[TrainingRun]:
    """Every run under <home>/training (or the one named), most recently updated first."""
    runs = [describe(status) for status in list_runs(home, name)]
    return sorted(runs, key=lambda run: run.updated_at, reverse=True)
