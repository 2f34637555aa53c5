"""Run reports drawn with PIL: sample grids, the JSON-lines run log and its loss plot (no matplotlib here).

Shared by the embedded model's trainer and the LoRA trainer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from PIL import Image, ImageDraw

from sfumato.atomic_write import atomic_writer

# One loss-plot colour per run phase (the log's "phase"): the base model's vae/unet, LoRA and embedding runs.
PHASE_COLOURS: Final[Mapping[str, tuple[int, int, int]]] = MappingProxyType({
    "vae": (52, 101, 164), "unet": (204, 0, 0), "lora": (78, 154, 6), "embedding": (117, 80, 123),
    "full": (196, 160, 0),  # a full fine-tune (train dreambooth --output full)
})


def append_log(run: Path, row: dict[str, Any]) -> None:
    """One JSON line in the run log (`log.jsonl`); training's loss plot and `train status` read it."""
    with (run / "log.jsonl").open("a", encoding="utf-8") as file:
        file.write(json.dumps(row) + "\n")


def save_grid(rows: Sequence[Sequence[Image.Image]], path: Path, *, pad: int = 2) -> None:
    """Pictures in rows (all the same size), on white with `pad` pixels between them."""
    width, height = rows[0][0].size
    columns = max(len(row) for row in rows)
    grid = Image.new("RGB", (columns * (width + pad) + pad, len(rows) * (height + pad) + pad), "white")
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            grid.paste(picture.convert("RGB"), (pad + c * (width + pad), pad + r * (height + pad)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as file:
        grid.save(file, format="PNG")


def read_losses(log: Path) -> dict[str, list[tuple[int, float]]]:
    """{phase: [(step, loss)]} from the run log; a step logged twice (a resumed run) keeps its last value."""
    by_phase: dict[str, dict[int, float]] = {}
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            by_phase.setdefault(row["phase"], {})[int(row["step"])] = float(row["loss"])
    return {phase: sorted(steps.items()) for phase, steps in by_phase.items()}


def _smooth(values: Sequence[float], weight: float = 0.98) -> list[float]:
    out, current = [], values[0]
    for value in values:
        current = weight * current + (1 - weight) * value
        out.append(current)
    return out


def plot_losses(log: Path, path: Path, *, size: tuple[int, int] = (640, 360)) -> None:
    """One panel per phase: raw loss in light grey, its exponential moving average in the phase colour."""
    losses = {phase: points for phase, points in read_losses(log).items() if points}
    panel_height = size[1]
    image = Image.new("RGB", (size[0], panel_height * max(1, len(losses))), "white")
    draw = ImageDraw.Draw(image)
    margin = 40
    for index, (phase, points) in enumerate(sorted(losses.items(), key=lambda kv: kv[0] != "vae")):
        top = index * panel_height
        steps, values = [p[0] for p in points], [p[1] for p in points]
        low, high = min(values), max(values)
        span_x, span_y = max(1, steps[-1] - steps[0]), max(high - low, 1e-12)

        def xy(step: int, value: float, top: int = top, low: float = low, first: int = steps[0],
               span_x: int = span_x, span_y: float = span_y, margin: int = margin) -> tuple[float, float]:
            x = margin + (step - first) / span_x * (size[0] - 2 * margin)
            return x, top + panel_height - margin - (value - low) / span_y * (panel_height - 2 * margin)

        draw.rectangle((margin, top + margin, size[0] - margin, top + panel_height - margin), outline=(160, 160, 160))
        if len(points) > 1:
            draw.line([xy(s, v) for s, v in points], fill=(200, 200, 200))
            draw.line([xy(s, v) for s, v in zip(steps, _smooth(values), strict=True)],
                      fill=PHASE_COLOURS.get(phase, (0, 0, 0)), width=2)
        draw.text((margin, top + 8), f"{phase} loss: steps {steps[0]}-{steps[-1]}, last {values[-1]:.4f}",
                  fill="black")
        draw.text((4, top + margin), f"{high:.3g}", fill="black")
        draw.text((4, top + panel_height - margin - 10), f"{low:.3g}", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as file:
        image.save(file, format="PNG")
