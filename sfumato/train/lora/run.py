"""A LoRA run folder: plan.json, status.json, log.jsonl, loss.png, samples/, checkpoints/. torch-free, so
`sfumato train status` reads runs without loading any model.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput
from sfumato.train.lora.plan import read_plan

State = Literal["running", "finished", "stopped", "failed", "interrupted"]
# Plan fields a resumed run may change: how long it trains and how it reports, not what it learns.
RESUMABLE_CHANGES: Final = frozenset({"steps", "sample_every", "sample_prompts", "sample_seeds", "sample_steps",
                                      "sample_guidance", "checkpoint_every", "lr_scheduler", "lr_warmup_steps"})


@dataclass(frozen=True)
class RunStatus:
    name: str
    folder: Path
    state: State
    step: int
    steps: int
    last_loss: float | None
    output: str | None
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "folder": str(self.folder), "state": self.state, "step": self.step,
                "steps": self.steps, "last_loss": self.last_loss, "output": self.output,
                "updated_at": self.updated_at}


def runs_root(home: Path) -> Path:
    return Path(home) / "training"


def start_run(folder: Path, plan: Any, *, resume: bool, reader: Callable[[Path], Any] = read_plan) -> None:
    """Write plan.json for a new run, or check a resumed run's plan against the saved one.

    `plan` is a TrainingPlan, or another plan kind (textual inversion's) with its own `reader`."""
    saved_file = folder / "plan.json"
    if saved_file.is_file():
        if not resume:
            raise BadInput(f"run: {str(folder)!r} already holds a training run named {plan.name!r}",
                           hint="add --resume to continue it, or choose another --name")
        saved = reader(saved_file).to_json()
        current = plan.to_json()
        changed = sorted(k for k in current if k not in RESUMABLE_CHANGES and current[k] != saved.get(k))
        if changed:
            key = changed[0]
            raise BadInput(f"--resume: {key} must stay {saved.get(key)!r} to continue this run, got {current[key]!r}")
    elif resume:
        raise BadInput(f"--resume: no run named {plan.name!r} in {str(folder.parent)!r} to continue")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(saved_file, plan.dumps().encode())


def started_at(folder: Path) -> float:
    """When the run first started (kept across resumes), from status.json; now for a new run."""
    try:
        return float(json.loads((folder / "status.json").read_text(encoding="utf-8"))["started_at"])
    except (OSError, KeyError, ValueError):
        return time.time()


def write_status(folder: Path, *, state: State, step: int, steps: int, output: Path | None = None) -> None:
    payload = {"state": state, "pid": os.getpid(), "step": step, "steps": steps, "started_at": started_at(folder),
               "output": str(output) if output else None, "updated_at": time.time()}
    atomic_write_bytes(folder / "status.json", json.dumps(payload, indent=1).encode())


def mark_failed(folder: Path) -> None:
    """After an error: the run's status says failed, at the step it had reached."""
    status = folder / "status.json"
    if status.is_file():
        raw = json.loads(status.read_text(encoding="utf-8"))
        if raw.get("state") == "running" and raw.get("pid") == os.getpid():  # not another process's run
            write_status(folder, state="failed", step=int(raw["step"]), steps=int(raw["steps"]))


def _last_loss(log: Path) -> float | None:
    if not log.is_file():
        return None
    for line in reversed(log.read_text(encoding="utf-8").splitlines()):
        try:
            return float(json.loads(line)["loss"])
        except (ValueError, KeyError, TypeError):
            continue  # a blank line, or the last line while the trainer is still writing it
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(folder: Path) -> RunStatus:
    raw = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    state: State = raw["state"]
    if state == "running" and not _alive(int(raw.get("pid", -1))):
        state = "interrupted"  # the process died without saying so (killed, power cut)
    return RunStatus(folder.name, folder, state, int(raw["step"]), int(raw["steps"]), _last_loss(folder / "log.jsonl"),
                     raw.get("output"), float(raw["updated_at"]))
