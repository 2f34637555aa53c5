"""`sfumato train status` and GET /api/trainings list `sfumato train base` runs: phase (vae, then unet), that
phase's step and steps, the last loss, and whether the run is running (its status.json names a live process).
A real `train base` run is read in tests/train/test_base_training.py (test_train_status_reads_the_run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sfumato.server import create_app
from sfumato.settings import Settings
from sfumato.train.base.reporting import append_log
from sfumato.train.base.tracking import tracked_run
from sfumato.train.runs import TrainingRun, training_runs


def _base_folder(root: Path) -> Path:
    """A base run folder as the trainer leaves it at UNet step 2 of 3: run.json and the log (two sessions)."""
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"plan": {"steps": 3, "vae_steps": 2}}))
    for phase, step, seconds, loss in (("vae", 1, 1.0, 0.5), ("vae", 2, 2.0, 0.4), ("unet", 1, 4.0, 0.9),
                                       ("unet", 1, 0.5, 0.8), ("unet", 2, 1.0, 0.7)):
        append_log(root, {"phase": phase, "step": step, "loss": loss, "lr": 1e-4, "seconds": seconds})
    return root


def test_tracked_run_says_running_then_how_it_ended(tmp_path: Path, home: Path) -> None:
    def state(folder: Path) -> TrainingRun:
        [run] = training_runs(home, str(folder))
        return run

    out = tmp_path / "run"
    with tracked_run(out, 3) as touch:
        touch()  # before run.json: the trainer refuses a non-empty new folder, so nothing is written
        assert not out.exists()
        _base_folder(out)
        touch()
        now = state(out)
    # The ETA uses the resumed session's rate (0.5 s a step) for the one step left.
    assert (now.state, now.phase, now.step, now.steps, now.last_loss, now.eta_s) == ("running", "unet", 2, 3, 0.7, 0.5)
    assert state(out).state == "finished" and state(out).output is None  # no model file: nothing to point at
    for error, ended in ((KeyboardInterrupt, "interrupted"), (RuntimeError, "failed")):
        folder = tmp_path / ended
        with pytest.raises(error), tracked_run(folder, 3) as touch:
            _base_folder(folder)
            touch()
            raise error()
        assert state(folder).state == ended

    status = out / "status.json"  # the process died without saying so
    raw = json.loads(status.read_text())
    status.write_text(json.dumps({**raw, "state": "running", "pid": 999_999_999}))
    assert raw["pid"] == os.getpid() and state(out).state == "interrupted"
    status.unlink()  # a run from before `train base` wrote status.json: finished only once its model is there
    assert state(out).state == "unknown"


def test_the_api_lists_base_runs_with_their_phase(home: Path) -> None:
    _base_folder(home / "training" / "emoji-base")  # no status.json: a run from before it was written
    with TestClient(create_app(Settings(home=home), run_jobs=False)) as client:
        response = client.get("/api/trainings")
    assert response.status_code == 200, response.text
    [run] = response.json()
    assert (run["name"], run["kind"], run["state"], run["phase"]) == ("emoji-base", "base", "unknown", "unet")
    assert (run["step"], run["steps"], run["last_loss"], run["output"]) == (2, 3, 0.7, None)
