"""The run log's loss plot draws every trainer's phase in its own colour (the embedding run's was black)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.train.base.reporting import PHASE_COLOURS, append_log, plot_losses


@pytest.mark.parametrize("phase", ["vae", "unet", "lora", "embedding"])
def test_each_phase_is_plotted_in_its_colour(tmp_path: Path, phase: str) -> None:
    for step, loss in enumerate([0.5, 0.4, 0.45, 0.3]):
        append_log(tmp_path, {"phase": phase, "step": step, "loss": loss})
    plot_losses(tmp_path / "log.jsonl", tmp_path / "loss.png", size=(160, 120))
    pixels = np.asarray(Image.open(tmp_path / "loss.png").convert("RGB"))
    assert (pixels == PHASE_COLOURS[phase]).all(axis=-1).any()
