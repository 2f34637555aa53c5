"""/sdapi/v1/loras in A1111's shape: every LoRA file with its safetensors metadata (kohya's ss_* keys)."""

from __future__ import annotations

from pathlib import Path

import torch
from fastapi.testclient import TestClient

from sfumato.server.app import create_app
from sfumato.settings import Settings
from tests.models.tiny_loras import save_lora


def test_loras_lists_files_with_their_metadata(tmp_path: Path) -> None:
    tensors = {"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 8),
               "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 2)}
    save_lora(tensors, tmp_path / "models" / "Lora" / "ink.safetensors",
              metadata={"ss_base_model_version": "sd_v1", "ss_output_name": "ink"})
    app = create_app(Settings(home=tmp_path), run_jobs=False)
    with TestClient(app) as client:
        (lora,) = client.get("/sdapi/v1/loras").json()
    assert lora["name"] == lora["alias"] == "ink" and lora["path"].endswith("ink.safetensors")
    assert lora["metadata"]["ss_base_model_version"] == "sd_v1"
