"""identify(): the family of a tiny model in both layouts, metadata and name hints, refusals."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sfumato.errors import BadInput, ModelNotFound, UnknownArchitecture, UnsafeCheckpoint
from sfumato.models.families import Family
from sfumato.models.identify import identify
from sfumato.models.ldm_layout import to_original_state_dict
from sfumato.models.tiny import TINY_SHAPES

from .conftest import SavedTiny

# Without sfumato's metadata, what the tensors alone say (turbo and 768-v need a title or a name).
FROM_TENSORS_ONLY = {
    Family.SD1: Family.SD1, Family.SFUMATO_TINY: Family.SD1,
    Family.SD2: Family.SD2, Family.SD2_V: Family.SD2, Family.SD_TURBO: Family.SD2,
    Family.SDXL: Family.SDXL, Family.SDXL_TURBO: Family.SDXL, Family.SSD1B: Family.SSD1B,
    Family.SDXL_REFINER: Family.SDXL_REFINER,
}


def _plain(saved: SavedTiny, path: Path, metadata: dict[str, str] | None = None, **extra: torch.Tensor) -> Path:
    """The tiny model as a single file with no sfumato_config: only tensors (and the given metadata)."""
    save_file({**to_original_state_dict(saved.pipe, saved.family), **extra}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("family", list(TINY_SHAPES), ids=str)
def test_names_every_tiny_family_in_both_layouts(family: Family, saved_tiny: Callable[[Family], SavedTiny]) -> None:
    saved = saved_tiny(family)
    folder, single = identify(saved.folder), identify(saved.single_file)
    assert (folder.family, folder.layout) == (family, "diffusers")
    assert (single.family, single.layout) == (family, "single-file")
    assert folder.prediction_type == single.prediction_type == saved.pipe.scheduler.config.prediction_type
    assert not folder.is_inpainting and not single.is_inpainting


@pytest.mark.parametrize("family", list(TINY_SHAPES), ids=str)
def test_tensors_alone_decide_the_layout(
    family: Family, saved_tiny: Callable[[Family], SavedTiny], tmp_path: Path
) -> None:
    found = identify(_plain(saved_tiny(family), tmp_path / "model.safetensors"))
    assert found.family == FROM_TENSORS_ONLY[family], found.evidence


def test_sd2_prediction_type_sources(saved_tiny: Callable[[Family], SavedTiny], tmp_path: Path) -> None:
    saved = saved_tiny(Family.SD2)
    guessed = identify(_plain(saved, tmp_path / "a.safetensors"))
    assert (guessed.family, guessed.prediction_type) == (Family.SD2, "epsilon") and "guess" in guessed.evidence
    stated = identify(_plain(saved, tmp_path / "b.safetensors", {"modelspec.prediction_type": "v"}))
    assert (stated.family, stated.prediction_type) == (Family.SD2_V, "v_prediction")
    marker = identify(_plain(saved, tmp_path / "c.safetensors", v_pred=torch.zeros(())))
    assert marker.family == Family.SD2_V and "v_pred" in marker.evidence
    named = identify(_plain(saved, tmp_path / "v2-1_768-ema-pruned.safetensors"))
    assert named.family == Family.SD2_V and "768" in named.evidence
    eps = identify(_plain(saved, tmp_path / "d_768.safetensors", {"modelspec.prediction_type": "epsilon"}))
    assert eps.family == Family.SD2  # a stated type beats a name hint


def test_turbo_from_title_or_name(saved_tiny: Callable[[Family], SavedTiny], tmp_path: Path) -> None:
    sdxl, sd2 = saved_tiny(Family.SDXL), saved_tiny(Family.SD2)
    assert identify(_plain(sdxl, tmp_path / "sd_xl_turbo_1.0_fp16.safetensors")).family == Family.SDXL_TURBO
    titled = _plain(sd2, tmp_path / "model.safetensors", {"modelspec.title": "SD-Turbo"})
    assert identify(titled).family == Family.SD_TURBO
    # "turbo" never turns an SD1 model into something else: there is no SD1 turbo family.
    assert identify(_plain(saved_tiny(Family.SD1), tmp_path / "turbo.safetensors")).family == Family.SD1


def test_inpainting_from_a_nine_channel_input(saved_tiny: Callable[[Family], SavedTiny], tmp_path: Path) -> None:
    saved = saved_tiny(Family.SD1)
    wide = torch.zeros(32, 9, 3, 3)
    path = _plain(saved, tmp_path / "inpaint.safetensors", **{"model.diffusion_model.input_blocks.0.0.weight": wide})
    assert identify(path).is_inpainting
    folder = tmp_path / "folder"
    shutil.copytree(saved.folder, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "in_channels": 9}))
    found = identify(folder)
    assert found.is_inpainting and found.family == Family.SD1 and "inpainting" in found.evidence


def _skeleton(path: Path, deepest: tuple[int, ...]) -> Path:
    """A header-realistic full-size SDXL file: the keys identify() reads, with toy tensors."""
    keys = {"conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": torch.zeros(1),
            "conditioner.embedders.1.model.positional_embedding": torch.zeros(1)}
    unet = "model.diffusion_model."
    blocks = [(f"input_blocks.{i}", 640, 2) for i in (4, 5)] + [(f"output_blocks.{i}", 640, 2) for i in (3, 4, 5)]
    blocks += [(f"{name}", 1280, d) for name, d in zip(
        ("input_blocks.7", "input_blocks.8", "output_blocks.0", "output_blocks.1", "output_blocks.2"), deepest)]
    for block, channels, depth in blocks:
        keys[f"{unet}{block}.1.proj_in.weight"] = torch.zeros(channels, 1)
        keys[f"{unet}{block}.1.transformer_blocks.0.attn2.to_k.weight"] = torch.zeros(1, 2048)
        keys |= {f"{unet}{block}.1.transformer_blocks.{k}.norm1.weight": torch.zeros(1) for k in range(depth)}
    keys[f"{unet}input_blocks.0.0.weight"] = torch.zeros(320, 4, 1, 1)
    save_file(keys, str(path))
    return path


def test_full_size_ssd1b_has_fewer_transformer_blocks_than_sdxl(tmp_path: Path) -> None:
    assert identify(_skeleton(tmp_path / "base.safetensors", (10,) * 5)).family == Family.SDXL
    assert identify(_skeleton(tmp_path / "ssd.safetensors", (4, 4, 4, 4, 4))).family == Family.SSD1B
    assert identify(_skeleton(tmp_path / "mixed.safetensors", (10, 10, 10, 4, 10))).family == Family.SSD1B


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin", ".CKPT"])
def test_pickle_files_are_refused_unopened(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04not even read")
    with pytest.raises(UnsafeCheckpoint) as caught:
        identify(path)
    assert caught.value.hint == f"sfumato models convert {path}"


def test_unknown_layouts_say_what_was_seen(saved_tiny: Callable[[Family], SavedTiny], tmp_path: Path) -> None:
    save_file({"lora_unet_down.alpha": torch.zeros(1)}, str(tmp_path / "lora.safetensors"))
    with pytest.raises(UnknownArchitecture, match="lora_unet_down.alpha"):
        identify(tmp_path / "lora.safetensors")
    unet_only = {k: v for k, v in to_original_state_dict(saved_tiny(Family.SD1).pipe, Family.SD1).items()
                 if k.startswith("model.diffusion_model.")}
    save_file(unet_only, str(tmp_path / "unet.safetensors"))
    with pytest.raises(UnknownArchitecture, match="no text encoder.*model.diffusion_model"):
        identify(tmp_path / "unet.safetensors")


def test_unreadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "broken.safetensors").write_bytes(b"garbage")
    with pytest.raises(BadInput, match="broken.safetensors"):
        identify(tmp_path / "broken.safetensors")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BadInput, match="'.txt'"):
        identify(tmp_path / "notes.txt")
    with pytest.raises(ModelNotFound):
        identify(tmp_path / "missing.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownArchitecture, match="model_index.json"):
        identify(tmp_path / "empty")
