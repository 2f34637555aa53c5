"""Write learnt vectors as an A1111 embedding file: {"emb_params": (n, width)} for one CLIP encoder, or SDXL's
{"clip_l": (n, 768), "clip_g": (n, 1280)}, with the run's settings in the safetensors metadata. Atomic.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save

from sfumato.atomic_write import atomic_write_bytes
from sfumato.train.embedding.plan import EmbeddingPlan

HASH_LENGTH = 10  # A1111's sd_checkpoint: the model's short sha256


def embedding_metadata(plan: EmbeddingPlan, step: int) -> dict[str, str]:
    """Strings only (safetensors metadata); A1111's own fields (name, step, sd_checkpoint) plus sfumato's plan."""
    return {
        "name": plan.token, "step": str(step), "vectors": str(plan.vectors), "init_word": plan.init_word,
        "sd_checkpoint": (plan.base_hash or "")[:HASH_LENGTH], "sd_checkpoint_name": plan.base,
        "base_model_hash": plan.base_hash or "", "family": plan.family,
        "sfumato_training_plan": plan.dumps(),
    }


def save_embedding(path: Path, tensors: dict[str, torch.Tensor], plan: EmbeddingPlan, step: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(tensors, metadata=embedding_metadata(plan, step)))
