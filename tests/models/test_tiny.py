"""Tiny real pipelines: every family builds, deterministically, in its family's real layout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from diffusers import StableDiffusionXLImg2ImgPipeline

from sfumato.errors import UnknownArchitecture
from sfumato.models.families import FAMILIES, Family
from sfumato.models.tiny import TINY_SHAPES, build_tiny_pipeline

from .conftest import SavedTiny


def _weights(pipe: object) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, component in pipe.components.items():  # type: ignore[attr-defined]
        if isinstance(component, torch.nn.Module):
            out |= {f"{name}.{k}": v for k, v in component.state_dict().items()}
    return out


def _transformer_blocks(pipe: object) -> int:
    return len({k.split(".transformer_blocks.")[0] + k.split(".transformer_blocks.")[1].split(".")[0]
                for k in pipe.unet.state_dict() if ".transformer_blocks." in k})  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", list(TINY_SHAPES), ids=str)
def test_builds_deterministically_without_touching_global_rng(family: Family) -> None:
    before = torch.get_rng_state()
    first, second = _weights(build_tiny_pipeline(family)), _weights(build_tiny_pipeline(family))
    assert torch.equal(torch.get_rng_state(), before)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = _weights(build_tiny_pipeline(family, seed=1))
    assert not torch.equal(first["unet.conv_in.weight"], other["unet.conv_in.weight"])


@pytest.mark.parametrize("family", list(TINY_SHAPES), ids=str)
def test_real_vocabulary_sd_schedule_and_prediction_type(
    family: Family, saved_tiny: Callable[[Family], SavedTiny]
) -> None:
    pipe = saved_tiny(family).pipe
    encoders = [e for e in (getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)) if e]
    assert encoders and all(e.config.vocab_size == 49408 and e.config.max_position_embeddings == 77 for e in encoders)
    config = pipe.scheduler.config
    assert (config.beta_schedule, config.beta_start, config.beta_end, config.steps_offset) == (
        "scaled_linear", 0.00085, 0.012, 1
    )
    assert config.prediction_type == FAMILIES[family].prediction_type
    assert type(pipe).__name__ == FAMILIES[family].pipeline
    assert pipe.unet.config.cross_attention_dim == sum(
        e.config.hidden_size for e in encoders
    )


def test_sd2_uses_an_openclip_style_encoder_and_v_prediction(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    pipe = saved_tiny(Family.SD2_V).pipe
    assert pipe.text_encoder.config.hidden_act == "gelu"
    assert pipe.tokenizer.pad_token_id == 0
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert saved_tiny(Family.SD1).pipe.text_encoder.config.hidden_act == "quick_gelu"


def test_sdxl_layouts(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    base = saved_tiny(Family.SDXL).pipe
    assert base.unet.config.addition_embed_type == "text_time"
    assert base.text_encoder_2.text_projection.weight.shape[0] == base.text_encoder_2.config.projection_dim
    assert base.text_encoder.config.hidden_size != base.text_encoder_2.config.hidden_size
    refiner = saved_tiny(Family.SDXL_REFINER).pipe
    assert isinstance(refiner, StableDiffusionXLImg2ImgPipeline)
    assert refiner.text_encoder is None and refiner.tokenizer is None
    assert refiner.config.requires_aesthetics_score
    ssd = saved_tiny(Family.SSD1B).pipe
    assert _transformer_blocks(ssd) < _transformer_blocks(base)


@pytest.mark.parametrize("family", [Family.SFUMATO_TINY, Family.SDXL], ids=str)
def test_generates_a_64_px_picture(family: Family) -> None:
    pipe = build_tiny_pipeline(family)
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 64
    image = pipe("a photo of a cat", num_inference_steps=2, output_type="np",
                 generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 64, 64, 3)


def test_families_without_a_tiny_build_are_refused_by_name() -> None:
    missing = [f for f in Family if f not in TINY_SHAPES]
    for family in missing:
        with pytest.raises(UnknownArchitecture, match=family.value):
            build_tiny_pipeline(family)
