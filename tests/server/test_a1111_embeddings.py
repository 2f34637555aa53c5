"""GET /sdapi/v1/embeddings answers in A1111's shape: loaded where the current model takes them, else skipped."""

from __future__ import annotations

from pathlib import Path

import torch
from fastapi.testclient import TestClient
from safetensors.torch import save_file

from sfumato.server import create_app
from sfumato.settings import Settings


def test_embeddings_route_lists_vectors_and_shapes(tmp_path: Path) -> None:
    folder = tmp_path / "embeddings"
    folder.mkdir()
    save_file({"emb_params": torch.zeros(3, 32)}, str(folder / "tinystyle.safetensors"))
    save_file({"clip_l": torch.zeros(2, 768), "clip_g": torch.zeros(2, 1280)}, str(folder / "xlstyle.safetensors"))
    torch.save({"string_to_param": {"*": torch.zeros(1, 768)}}, folder / "oldpickle.pt")
    with TestClient(create_app(Settings(home=tmp_path), run_jobs=False)) as client:
        answer = client.get("/sdapi/v1/embeddings")
    assert answer.status_code == 200
    empty = {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None}
    assert answer.json() == {  # the default model is sfumato-tiny, whose encoder is 32 wide
        "loaded": {"tinystyle": {**empty, "shape": 32, "vectors": 3}},
        "skipped": {"xlstyle": {**empty, "shape": 2048, "vectors": 2}},
    }
