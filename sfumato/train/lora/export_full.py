"""A full fine-tune's result: the trained pipeline written as a new library model (models/model_file.py), with
the TrainingPlan and a short record of the run (base, steps, times, dataset tags, class pictures) in its metadata.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sfumato.models.families import Family
from sfumato.models.model_file import save_model
from sfumato.train.dataset.folder import DatasetItem
from sfumato.train.lora.export import dataset_summary
from sfumato.train.lora.plan import TrainingPlan


def export_model(path: Path, plan: TrainingPlan, *, pipe: Any, base_file: Path | None, items: Sequence[DatasetItem],
                 priors: Sequence[DatasetItem], step: int, started_at: float) -> None:
    """Single-file SD 1.x/2.x/SDXL layout (A1111, ComfyUI), or the embedded model's own file (from `base_file`)."""
    tags, dirs = dataset_summary(items)
    record = {
        "output": plan.output, "base": plan.base, "base_sha256": plan.base_hash, "steps": step,
        "started_at": started_at, "finished_at": time.time(), "num_reg_images": len(priors),
        "prior_loss_weight": plan.prior_loss_weight if priors else None, "tag_frequency": tags, "dataset_dirs": dirs,
    }
    save_model(pipe, Family(plan.family), path, source=base_file,
               records={"training_plan": plan.to_json(), "fine_tune": record})
