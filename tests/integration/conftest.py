"""A sfumato home where the merged features meet: a tiny SD1 LoRA, an embedding, an init image and mask,
a wildcard, a style and a theme, built once per module from fixed seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from tests.models.tiny_loras import KOHYA_SD1, build_lora, save_lora


@pytest.fixture(scope="module")
def seam_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("seam-home")
    sd1 = build_tiny_pipeline(Family.SD1)  # the module layout of the built-in sfumato-tiny
    save_lora(build_lora(sd1, "kohya", seed=1), root / "models" / "Lora" / "ink.safetensors", metadata=KOHYA_SD1)
    (root / "embeddings").mkdir()
    save_file({"emb_params": torch.randn(2, 32, generator=torch.Generator().manual_seed(1))},
              str(root / "embeddings" / "inkstyle.safetensors"))
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(root / "init.png")
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    mask.save(root / "mask.png")
    (root / "wildcards").mkdir()
    (root / "wildcards" / "animal.txt").write_text("owl\ncat\n", encoding="utf-8")
    (root / "styles.csv").write_text('name,prompt,negative_prompt\nInk,"{prompt}, <lora:ink:0.7>",blurry\n',
                                     encoding="utf-8")
    theme = {"theme": "owl", "prompt": {"subject": ["owl", "inkstyle"]}, "settings": {"steps": 2}}
    (root / "owl.yaml").write_text(yaml.safe_dump(theme, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture
def home(seam_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's seam home as SFUMATO_HOME (the CLI's default home)."""
    monkeypatch.setenv("SFUMATO_HOME", str(seam_home))
    return seam_home
