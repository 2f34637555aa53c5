"""The embedded model's architecture: a tiny latent VAE and a MiniLM-conditioned UNet, built from diffusers classes.

Sizes were chosen by measurement (benchmarks/embedded_model_design.md): a 4x VAE turns 64 px pictures into
16x16x4 latents, where a ~15M-parameter UNet costs tens of milliseconds per CFG call on one CPU core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Final

from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from sfumato.errors import BadInput

TEXT_WIDTH: Final = 384  # all-MiniLM-L6-v2 hidden size: the UNet's cross-attention context width


@dataclass(frozen=True)
class EmojiModelConfig:
    """Every number that decides the architecture; saved with each run so a checkpoint rebuilds its model."""

    resolution: int = 64
    vae_channels: tuple[int, ...] = (32, 64, 128)  # one level per entry; 2 ** (levels - 1) = 4x downsampling
    vae_layers: int = 1
    latent_channels: int = 4
    unet_channels: tuple[int, ...] = (64, 128, 256)
    unet_layers: int = 1
    attention_head_dim: int = 32
    norm_groups: int = 32
    max_tokens: int = 32  # MiniLM tokens per caption (emoji captions are under 20)

    @property
    def vae_factor(self) -> int:
        return int(2 ** (len(self.vae_channels) - 1))

    @property
    def latent_size(self) -> int:
        return self.resolution // self.vae_factor

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def config_from_json(raw: Mapping[str, Any]) -> EmojiModelConfig:
    """Rebuild a config saved by `EmojiModelConfig.to_json` (lists become tuples)."""
    known = EmojiModelConfig.__dataclass_fields__
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise BadInput(f"model config: unknown keys {unknown}; known keys are {sorted(known)}")
    return EmojiModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})  # type: ignore[arg-type]


# The shipped model and the test-sized one (a few thousand parameters, seconds to train).
PRESETS: Final[Mapping[str, EmojiModelConfig]] = MappingProxyType({
    "base": EmojiModelConfig(),
    "tiny": EmojiModelConfig(
        resolution=16, vae_channels=(8, 8), latent_channels=4, unet_channels=(8, 16), attention_head_dim=4,
        norm_groups=4, max_tokens=16,
    ),
})

# SD's training noise schedule, so every sampler in the engine's table sees the schedule it was written for.
SCHEDULER_CONFIG: Final[Mapping[str, Any]] = MappingProxyType({
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "timestep_spacing": "leading",
})


def build_vae(config: EmojiModelConfig) -> AutoencoderKL:
    levels = len(config.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=config.vae_channels,
        layers_per_block=config.vae_layers,
        latent_channels=config.latent_channels,
        norm_num_groups=config.norm_groups,
        sample_size=config.resolution,
        scaling_factor=1.0,  # replaced by 1 / std of the trained encoder's latents before the UNet trains
    )


def build_unet(config: EmojiModelConfig) -> UNet2DConditionModel:
    levels = len(config.unet_channels)
    return UNet2DConditionModel(
        sample_size=config.latent_size,
        in_channels=config.latent_channels,
        out_channels=config.latent_channels,
        block_out_channels=config.unet_channels,
        layers_per_block=config.unet_layers,
        # Cross-attention at every level: latents are at most 16x16, so attention is cheap everywhere.
        down_block_types=("CrossAttnDownBlock2D",) * levels,
        up_block_types=("CrossAttnUpBlock2D",) * levels,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=tuple(max(1, c // config.attention_head_dim) for c in config.unet_channels),
        use_linear_projection=True,
        norm_num_groups=config.norm_groups,
    )


def build_scheduler() -> DDPMScheduler:
    return DDPMScheduler.from_config(dict(SCHEDULER_CONFIG))
