"""Model families: one table row per architecture the library identifies and the engine runs.

Detection returns a `Family`; everything downstream (pipeline class, native size, default sampler,
bundled config folder) is looked up here instead of branching on the architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal


class Family(StrEnum):
    SD1 = "sd1"
    SD2 = "sd2"  # epsilon prediction (512 "base" models)
    SD2_V = "sd2-v"  # v-prediction (768 models)
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl-refiner"
    SSD1B = "ssd-1b"
    SDXL_TURBO = "sdxl-turbo"
    SD_TURBO = "sd-turbo"
    SFUMATO_TINY = "sfumato-tiny"
    SFUMATO_EMOJI = "sfumato-emoji"  # the embedded model: MiniLM text encoder, 4x VAE (models/emoji_model.py)


@dataclass(frozen=True)
class FamilySpec:
    label: str
    pipeline: str  # diffusers pipeline class name; resolved lazily so this table stays torch-free
    native_size: int
    prediction_type: Literal["epsilon", "v_prediction"]
    default_sampler: str
    default_steps: int
    default_guidance: float
    config_folder: str | None  # under sfumato/models/configs/, for single-file loading offline
    text_encoders: int = 1
    # fp16 VAE of SDXL overflows to NaN; the engine decodes in fp32 up front where this is set.
    vae_needs_fp32: bool = False
    # LoRA training (issue #8): modules peft wraps by default, as diffusers' train_text_to_image_lora scripts do.
    lora_unet_targets: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")
    lora_text_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")  # () = UNet-only LoRA


FAMILIES: Final[Mapping[Family, FamilySpec]] = MappingProxyType({
    Family.SD1: FamilySpec(
        "Stable Diffusion 1.x", "StableDiffusionPipeline", 512, "epsilon", "DPM++ 2M", 20, 7.0, "sd1"
    ),
    Family.SD2: FamilySpec(
        "Stable Diffusion 2.x (epsilon)", "StableDiffusionPipeline", 512, "epsilon", "DPM++ 2M", 20, 7.0, "sd2"
    ),
    Family.SD2_V: FamilySpec(
        "Stable Diffusion 2.x (v-prediction)", "StableDiffusionPipeline", 768, "v_prediction", "DPM++ 2M", 20, 7.0,
        "sd2-v",
    ),
    Family.SDXL: FamilySpec(
        "Stable Diffusion XL base", "StableDiffusionXLPipeline", 1024, "epsilon", "DPM++ 2M", 25, 6.0, "sdxl",
        text_encoders=2, vae_needs_fp32=True,
    ),
    Family.SDXL_REFINER: FamilySpec(
        "Stable Diffusion XL refiner", "StableDiffusionXLImg2ImgPipeline", 1024, "epsilon", "DPM++ 2M", 25, 6.0,
        "sdxl-refiner", vae_needs_fp32=True,
    ),
    Family.SSD1B: FamilySpec(
        "Segmind SSD-1B", "StableDiffusionXLPipeline", 1024, "epsilon", "DPM++ 2M", 25, 6.0, "ssd-1b",
        text_encoders=2, vae_needs_fp32=True,
    ),
    Family.SDXL_TURBO: FamilySpec(
        "SDXL-Turbo", "StableDiffusionXLPipeline", 512, "epsilon", "Euler a", 1, 0.0, "sdxl-turbo",
        text_encoders=2, vae_needs_fp32=True,
    ),
    Family.SD_TURBO: FamilySpec(
        "SD-Turbo", "StableDiffusionPipeline", 512, "epsilon", "Euler a", 1, 0.0, "sd-turbo"
    ),
    Family.SFUMATO_TINY: FamilySpec(
        "sfumato tiny (untrained, built from a seed)", "StableDiffusionPipeline", 64, "epsilon", "DPM++ 2M", 8, 5.0,
        None,
    ),
    Family.SFUMATO_EMOJI: FamilySpec(
        "sfumato emoji (embedded, 64 px)", "StableDiffusionPipeline", 64, "epsilon", "DPM++ 2M", 12, 5.0, None,
        lora_text_targets=(),  # MiniLM stays frozen: LoRA trains the UNet only
    ),
})
