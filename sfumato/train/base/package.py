"""Packaging: a training run's EMA weights -> the embedded model file, and parts -> a diffusers pipeline.

The file (`sfumato-emoji.safetensors`, UNet + VAE, configs in its metadata) is what the library identifies as
`Family.SFUMATO_EMOJI` and the engine loads; see `sfumato/models/emoji_model.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline
from safetensors.torch import load_file

from sfumato.errors import BadInput
from sfumato.models.emoji_model import load_emoji_pipeline, save_emoji_model
from sfumato.train.base.checkpoint import CheckpointPaths
from sfumato.train.base.config import SCHEDULER_CONFIG, build_unet, build_vae, config_from_json

MODEL_FILE: Final = "sfumato-emoji.safetensors"


def build_pipeline(*, unet: Any, vae: Any, encoder: Any, tokenizer: Any) -> Any:
    """A StableDiffusionPipeline around in-memory parts (training samples, evaluation)."""
    pipe: Any = StableDiffusionPipeline(
        vae=vae, text_encoder=encoder, tokenizer=tokenizer, unet=unet,
        scheduler=DPMSolverMultistepScheduler.from_config(dict(SCHEDULER_CONFIG)),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def read_run(run: Path) -> dict[str, Any]:
    path = Path(run) / "run.json"
    if not path.is_file():
        raise BadInput(f"run: {str(run)!r} has no run.json; not a `sfumato train base` output folder")
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


def package_run(run: Path, dest: Path | None = None, *, fp16: bool = False) -> Path:
    """Write the run's EMA UNet and VAE (from its latest checkpoints) as one embedded-model file."""
    run = Path(run)
    saved = read_run(run)
    if "latent_scale" not in saved:
        raise BadInput(f"run: {run} has not finished training its VAE yet, so there is nothing to package")
    config = config_from_json(saved["config"])
    parts: dict[str, Any] = {"unet": build_unet(config), "vae": build_vae(config)}
    for name, module in parts.items():
        paths = CheckpointPaths.of(run, name)
        if not paths.exists():
            raise BadInput(f"run: {run} has no {name} checkpoint yet (checkpoints/{name}.safetensors)")
        tensors = load_file(str(paths.tensors))
        module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, strict=True)
    parts["vae"].register_to_config(scaling_factor=float(saved["latent_scale"]))
    steps = {name: json.loads(CheckpointPaths.of(run, name).state.read_text())["step"] for name in parts}
    dest = Path(dest) if dest is not None else run / MODEL_FILE
    save_emoji_model(dest, unet=parts["unet"], vae=parts["vae"], scheduler_config=SCHEDULER_CONFIG,
                     max_tokens=config.max_tokens, fp16=fp16,
                     # The dataset by folder name only: a full path would name the machine it was trained on.
                     extra={"steps": steps, "seed": saved["plan"]["seed"],
                            "dataset": Path(saved["plan"]["dataset"]).name})
    return dest


def pipeline_from_run(run: Path) -> StableDiffusionPipeline:
    """The trained run as a diffusers StableDiffusionPipeline, through the same file the library loads."""
    pipe: StableDiffusionPipeline = load_emoji_pipeline(package_run(run))
    return pipe
