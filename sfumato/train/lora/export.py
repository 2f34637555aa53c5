"""Write the trained adapters as one kohya-layout LoRA file with kohya's `ss_*` metadata (plus the plan)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from sfumato.train.dataset.captions import tag_frequency
from sfumato.train.dataset.folder import DatasetItem
from sfumato.train.lora.examples import Example
from sfumato.train.lora.kohya import kohya_metadata, kohya_tensors, write_lora
from sfumato.train.lora.plan import TrainingPlan


def dataset_summary(items: Sequence[DatasetItem]) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """(ss_tag_frequency, ss_dataset_dirs): tags per folder, and each folder's repeats and image count."""
    captions: dict[str, list[str]] = {}
    dirs: dict[str, dict[str, int]] = {}
    for item in items:
        captions.setdefault(item.subset.name, []).append(item.caption)
        entry = dirs.setdefault(item.subset.name, {"n_repeats": item.subset.repeats, "img_count": 0})
        entry["img_count"] += 1
    return {name: tag_frequency(texts) for name, texts in captions.items()}, dirs


def export_lora(path: Path, plan: TrainingPlan, *, models: Mapping[str, torch.nn.Module], sdxl: bool,
                examples: Sequence[Example], items: Sequence[DatasetItem], priors: Sequence[DatasetItem], step: int,
                started_at: float) -> None:
    tags, dirs = dataset_summary(items)
    buckets = sorted({(e.bucket.width, e.bucket.height) for e in examples})
    extra = {
        "ss_steps": step,
        "ss_num_train_images": sum(e.repeats for e in examples),
        "ss_bucket_info": {"buckets": [list(b) for b in buckets]},
        "ss_training_finished_at": time.time(),
        "ss_training_started_at": started_at,
        "ss_num_reg_images": len(priors),
        "ss_reg_dataset_dirs": dataset_summary(priors)[1],
        "ss_prior_loss_weight": plan.prior_loss_weight if priors else None,
    }
    tensors = kohya_tensors(models, alpha=plan.alpha, sdxl=sdxl)
    write_lora(path, tensors, kohya_metadata(plan, tag_frequency=tags, dataset_dirs=dirs, extra=extra))
