"""Tiny real pipelines: every family's diffusers layout at toy widths, built from a seed in well under a second.

Tests and the built-in `sfumato-tiny` model use these. The text encoders keep CLIP's real 49408-token vocabulary
and 77 positions, with the tokenizer files shipped in `sfumato/models/tokenizers/`, so any prompt tokenizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DiffusionPipeline,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sfumato.errors import UnknownArchitecture
from sfumato.models.families import FAMILIES, Family

TOKENIZERS: Final = Path(__file__).resolve().parent / "tokenizers"
CLIP_TOKENIZER: Final = TOKENIZERS / "clip"  # pads with <|endoftext|> (SD1, SDXL's first tokenizer)
CLIP_TOKENIZER_PAD0: Final = TOKENIZERS / "clip-pad0"  # pads with "!" = id 0 (SD2, SDXL's tokenizer_2)
# Key in the UNet's config.json that says which family a saved tiny folder is (the pipeline's own config
# cannot carry extra keys; a leading underscore makes diffusers keep it without an "unexpected" warning).
FAMILY_KEY: Final = "_sfumato_family"

# Widths: SDXL's two encoders must differ in width (768 vs 1280 in the real model), because diffusers'
# single-file loader tells the CLIP-L and bigG weights apart by the width of their position embedding.
CLIP_L_WIDTH: Final = 32
BIG_G_WIDTH: Final = 64
PROJECTION_DIM: Final = 32
TIME_EMBED_DIM: Final = 8  # per SDXL micro-conditioning number (256 in the real model)
SAMPLE_SIZE: Final = 32  # latents; x VAE factor 2 = 64 px images
INPAINT_IN_CHANNELS: Final = 9  # inpainting UNets: 4 noisy latents + 4 masked-picture latents + 1 mask

Layout = Literal["sd", "sdxl", "refiner"]
SchedulerName = Literal["pndm", "ddim", "euler", "euler_a"]


@dataclass(frozen=True)
class TinyShape:
    layout: Layout
    text_act: str = "quick_gelu"  # OpenAI CLIP; OpenCLIP encoders (SD2, bigG) use "gelu"
    scheduler: SchedulerName = "pndm"
    # Transformer blocks per down block, and per up-block layer when it differs (SSD-1B trims some).
    transformer_layers: tuple[int, int] = (1, 1)
    reverse_transformer_layers: tuple[tuple[int, int], tuple[int, int]] | None = None


TINY_SHAPES: Final[Mapping[Family, TinyShape]] = MappingProxyType({
    Family.SD1: TinyShape("sd"),
    Family.SD2: TinyShape("sd", text_act="gelu", scheduler="ddim"),
    Family.SD2_V: TinyShape("sd", text_act="gelu", scheduler="ddim"),
    Family.SD_TURBO: TinyShape("sd", text_act="gelu", scheduler="euler_a"),
    Family.SDXL: TinyShape("sdxl", scheduler="euler", transformer_layers=(1, 2)),
    Family.SDXL_TURBO: TinyShape("sdxl", scheduler="euler_a", transformer_layers=(1, 2)),
    # SSD-1B is SDXL with transformer blocks removed from some layers of the deepest level.
    Family.SSD1B: TinyShape("sdxl", scheduler="euler", transformer_layers=(1, 2),
                            reverse_transformer_layers=((2, 1), (1, 1))),
    Family.SDXL_REFINER: TinyShape("refiner", text_act="gelu", scheduler="euler", transformer_layers=(1, 2)),
    Family.SFUMATO_TINY: TinyShape("sd"),
})

_SCHEDULERS: Final[Mapping[SchedulerName, Any]] = MappingProxyType({  # scheduler classes
    "pndm": PNDMScheduler,
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
})
# The rest of each scheduler's config as the SD repos ship it (PNDM for SD1, DDIM for SD2, Euler for SDXL).
_SCHEDULER_EXTRAS: Final[Mapping[SchedulerName, Mapping[str, object]]] = MappingProxyType({
    "pndm": MappingProxyType({"skip_prk_steps": True, "set_alpha_to_one": False}),
    "ddim": MappingProxyType({"clip_sample": False, "set_alpha_to_one": False, "timestep_spacing": "leading"}),
    "euler": MappingProxyType({"timestep_spacing": "leading"}),
    "euler_a": MappingProxyType({"timestep_spacing": "leading"}),
})


def build_tiny_pipeline(family: Family, *, seed: int = 0) -> DiffusionPipeline:
    """A real diffusers pipeline of `family`'s layout with tiny widths; the same seed gives the same weights."""
    if family not in TINY_SHAPES:
        raise UnknownArchitecture(
            f"family: no tiny build for {family.value!r}; tiny builds exist for {sorted(f.value for f in TINY_SHAPES)}"
        )
    shape = TINY_SHAPES[family]
    # fork_rng keeps the caller's global torch RNG untouched by the seeding below.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipe: Any  # diffusers' pipeline classes declare their components untyped
        if shape.layout == "sd":
            pipe = _sd_pipeline(family, shape)
        else:
            pipe = _sdxl_pipeline(family, shape)
    pipe.unet.register_to_config(**{FAMILY_KEY: family.value})
    return pipe


def load_clip_tokenizer(*, pad_zero: bool = False) -> CLIPTokenizer:
    """The shipped CLIP tokenizer; `pad_zero` gives the SD2 / SDXL `tokenizer_2` variant that pads with `!`."""
    return CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_PAD0 if pad_zero else CLIP_TOKENIZER)


def _scheduler(family: Family) -> SchedulerMixin:
    """SD's training schedule (scaled_linear 0.00085-0.012, steps_offset 1) with the family's prediction type."""
    name = TINY_SHAPES[family].scheduler
    return _SCHEDULERS[name](
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        prediction_type=FAMILIES[family].prediction_type,
        **_SCHEDULER_EXTRAS[name],
    )


def _text_config(width: int, act: str, *, pad_zero: bool, projection: bool) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408,
        max_position_embeddings=77,
        hidden_size=width,
        intermediate_size=width * 4,
        num_hidden_layers=2,
        num_attention_heads=4,
        hidden_act=act,
        projection_dim=PROJECTION_DIM if projection else width,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=0 if pad_zero else 49407,
    )


def _vae(*, sdxl: bool) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=SAMPLE_SIZE * 2,
        # SDXL's VAE latents are scaled by 0.13025 and it overflows in fp16, hence force_upcast.
        scaling_factor=0.13025 if sdxl else 0.18215,
        force_upcast=sdxl,
    )


def _unet(shape: TinyShape, cross_attention_dim: int, *, add_embed_dim: int | None) -> UNet2DConditionModel:
    sdxl_like = add_embed_dim is not None
    return UNet2DConditionModel(
        sample_size=SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=(2, 4) if shape.text_act == "gelu" or sdxl_like else 8,
        # SD1 projects in and out of its transformers with 1x1 convs; SD2 and SDXL with linear layers.
        use_linear_projection=shape.text_act == "gelu" or sdxl_like,
        transformer_layers_per_block=shape.transformer_layers,
        reverse_transformer_layers_per_block=shape.reverse_transformer_layers,
        norm_num_groups=32,
        addition_embed_type="text_time" if sdxl_like else None,
        addition_time_embed_dim=TIME_EMBED_DIM if sdxl_like else None,
        projection_class_embeddings_input_dim=add_embed_dim,
    )


def _sd_pipeline(family: Family, shape: TinyShape) -> DiffusionPipeline:
    pad_zero = shape.text_act == "gelu"  # SD2's OpenCLIP tokenizer pads with "!"
    text_encoder = CLIPTextModel(_text_config(CLIP_L_WIDTH, shape.text_act, pad_zero=pad_zero, projection=False))
    pipe: DiffusionPipeline = StableDiffusionPipeline(
        vae=_vae(sdxl=False),
        text_encoder=text_encoder,
        tokenizer=load_clip_tokenizer(pad_zero=pad_zero),
        unet=_unet(shape, CLIP_L_WIDTH, add_embed_dim=None),
        scheduler=_scheduler(family),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return pipe


def _sdxl_pipeline(family: Family, shape: TinyShape) -> DiffusionPipeline:
    refiner = shape.layout == "refiner"
    # SDXL's time ids: 6 numbers (sizes and crop) for the base, 5 (with aesthetic score) for the refiner.
    n_time_ids = 5 if refiner else 6
    add_embed_dim = n_time_ids * TIME_EMBED_DIM + PROJECTION_DIM
    text_encoder = None if refiner else CLIPTextModel(
        _text_config(CLIP_L_WIDTH, "quick_gelu", pad_zero=False, projection=False)
    )
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(BIG_G_WIDTH, "gelu", pad_zero=True, projection=True))
    context = BIG_G_WIDTH if refiner else CLIP_L_WIDTH + BIG_G_WIDTH
    parts = {
        "vae": _vae(sdxl=True),
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "tokenizer": None if refiner else load_clip_tokenizer(),
        "tokenizer_2": load_clip_tokenizer(pad_zero=True),
        "unet": _unet(shape, context, add_embed_dim=add_embed_dim),
        "scheduler": _scheduler(family),
    }
    pipe: DiffusionPipeline
    if refiner:
        pipe = StableDiffusionXLImg2ImgPipeline(**parts, requires_aesthetics_score=True)
    else:
        pipe = StableDiffusionXLPipeline(**parts)
    return pipe


def build_tiny_inpainting_pipeline(family: Family, *, seed: int = 0) -> DiffusionPipeline:
    """`family`'s tiny pipeline with a 9-channel UNet (latents + masked-picture latents + mask) in its inpaint class.

    The layout of dedicated inpainting checkpoints (sd-v1-5-inpainting, SDXL inpainting 0.1).
    """
    base = build_tiny_pipeline(family, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        unet = UNet2DConditionModel.from_config(base.unet.config, in_channels=INPAINT_IN_CHANNELS)
    inpaint_class = StableDiffusionXLInpaintPipeline if TINY_SHAPES[family].layout != "sd" else \
        StableDiffusionInpaintPipeline
    pipe: DiffusionPipeline = inpaint_class.from_pipe(base, unet=unet)
    return pipe
