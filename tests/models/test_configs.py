"""Bundled config folders: one per family, complete, describing architectures of the known sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from sfumato.models.families import FAMILIES, Family
from sfumato.models.ldm_layout import UNET_PREFIX, VAE_PREFIX, unet_to_original, vae_to_original
from sfumato.models.loading import CONFIGS_ROOT

# Millions of parameters, counted from the public fp32/fp16 weights (SD1.5 UNet 859.52M, CLIP-L 123.06M, ...).
# The SDXL refiner UNet is 2259.53M: its fp16 file is 4.52 GB.
KNOWN_SIZES: Final[dict[str, dict[str, float]]] = {
    "sd1": {"unet": 859.52, "vae": 83.65, "text_encoder": 123.06},
    "sd2": {"unet": 865.91, "vae": 83.65, "text_encoder": 340.39},
    "sd2-v": {"unet": 865.91, "vae": 83.65, "text_encoder": 340.39},
    "sd-turbo": {"unet": 865.91, "vae": 83.65, "text_encoder": 340.39},
    "sdxl": {"unet": 2567.46, "vae": 83.65, "text_encoder": 123.06, "text_encoder_2": 694.66},
    "sdxl-turbo": {"unet": 2567.46, "vae": 83.65, "text_encoder": 123.06, "text_encoder_2": 694.66},
    "sdxl-refiner": {"unet": 2259.53, "vae": 83.65, "text_encoder_2": 694.66},
    "ssd-1b": {"unet": 1331.33, "vae": 83.65, "text_encoder": 123.06, "text_encoder_2": 694.66},
}
BUNDLED: Final = sorted(
    (family, spec.config_folder) for family, spec in FAMILIES.items() if spec.config_folder is not None
)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _meta_model(component: str, config: dict[str, Any]) -> torch.nn.Module:
    with init_empty_weights():
        if component == "unet":
            return UNet2DConditionModel.from_config(config)
        if component == "vae":
            return AutoencoderKL.from_config(config)
        text_config = CLIPTextConfig.from_dict(config)
        projected = config["architectures"] == ["CLIPTextModelWithProjection"]
        return CLIPTextModelWithProjection(text_config) if projected else CLIPTextModel(text_config)


def test_every_config_folder_is_bundled_and_known() -> None:
    folders = {folder for _, folder in BUNDLED}
    assert folders == set(KNOWN_SIZES)
    on_disk = {p.name for p in CONFIGS_ROOT.iterdir() if p.is_dir()}
    assert on_disk == folders


@pytest.mark.parametrize(("family", "folder"), BUNDLED, ids=[str(f) for _, f in BUNDLED])
def test_folder_matches_family_table(family: Family, folder: str) -> None:
    spec = FAMILIES[family]
    root = CONFIGS_ROOT / folder
    index = _json(root / "model_index.json")
    assert index["_class_name"] == spec.pipeline
    scheduler = _json(root / "scheduler" / "scheduler_config.json")
    assert scheduler["_class_name"] == index["scheduler"][1]
    assert scheduler.get("prediction_type", "epsilon") == spec.prediction_type
    encoders = [
        name for name in ("text_encoder", "text_encoder_2") if (root / name / "config.json").is_file()
    ]
    assert len(encoders) == spec.text_encoders
    for name in encoders:
        assert index[name][0] == "transformers"
    assert not any(root.glob("**/vocab.json")), "tokenizers ship once, under sfumato/models/tokenizers/"
    unet = _json(root / "unet" / "config.json")
    vae = _json(root / "vae" / "config.json")
    # UNet latent size x VAE factor (8) is the family's training resolution.
    assert unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1) == spec.native_size
    assert vae.get("force_upcast", False) == spec.vae_needs_fp32


def _round_trips_through_diffusers_converter(component: str, model: torch.nn.Module) -> None:
    """Original-layout keys for this config convert back, via diffusers' single-file code, to the model's."""
    weights = model.state_dict()
    if component == "unet":
        original = {UNET_PREFIX + k: v for k, v in unet_to_original(weights, model.config).items()}
        back = convert_ldm_unet_checkpoint(original, dict(model.config))
    else:
        original = {VAE_PREFIX + k: v for k, v in vae_to_original(weights).items()}
        back = convert_ldm_vae_checkpoint(original, dict(model.config))
    assert set(back) == set(weights)
    assert all(back[k].shape == weights[k].shape for k in weights)


@pytest.mark.parametrize("folder", sorted(KNOWN_SIZES))
def test_architectures_have_the_known_parameter_counts(folder: str) -> None:
    counts = {}
    for component in KNOWN_SIZES[folder]:
        model = _meta_model(component, _json(CONFIGS_ROOT / folder / component / "config.json"))
        counts[component] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
        if component in ("unet", "vae"):
            # Catches configs whose blocks (SSD-1B's trimmed depths, the refiner) diffusers cannot map.
            _round_trips_through_diffusers_converter(component, model)
    assert counts == KNOWN_SIZES[folder]
