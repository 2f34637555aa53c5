"""VAE decoding: the scaling is undone as diffusers does, and a real fp16 overflow is retried in fp32."""

from __future__ import annotations

import logging

import pytest
import torch
from diffusers import AutoencoderKL

from sfumato.engine.vae_decode import decode_latents, unscale_latents


def tiny_vae(**config: object) -> AutoencoderKL:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4, layers_per_block=1,
        **config,
    )
    return vae.eval()


def overflowing_fp16_vae() -> AutoencoderKL:
    """A VAE whose first decoder conv outputs up to ~2e5: inf in fp16 (max 65504), harmless in fp32,
    where the GroupNorm right after it brings the values back to ~1. The weights (<= 5e3) fit in fp16;
    at x1e4 the largest output was 63072, just short of overflowing."""
    vae = tiny_vae()
    with torch.no_grad():
        vae.decoder.conv_in.weight.mul_(3e4)
    return vae.half()


def latents() -> torch.Tensor:
    return torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(5))  # (B, 4, H/f, W/f)


def test_decode_matches_diffusers_own_scaling() -> None:
    vae = tiny_vae()
    pixels, warnings = decode_latents(vae, latents())
    with torch.no_grad():
        expected = vae.decode(latents() / vae.config.scaling_factor).sample
    assert warnings == ()
    assert pixels.shape == (2, 3, 16, 16) and pixels.dtype == torch.float32
    torch.testing.assert_close(pixels, expected)


def test_shift_factor_and_channel_statistics_are_undone() -> None:
    shifted = tiny_vae(scaling_factor=0.5, shift_factor=0.25)
    torch.testing.assert_close(unscale_latents(shifted, torch.ones(1, 4, 2, 2)), torch.full((1, 4, 2, 2), 2.25))
    stats = tiny_vae(scaling_factor=0.5, latents_mean=[0.0, 1.0, 2.0, 3.0], latents_std=[1.0, 1.0, 2.0, 2.0])
    out = unscale_latents(stats, torch.ones(1, 4, 2, 2))
    assert out[0, :, 0, 0].tolist() == [2.0, 3.0, 6.0, 7.0]


def test_fp16_overflow_is_decoded_again_in_fp32(caplog: pytest.LogCaptureFixture) -> None:
    vae = overflowing_fp16_vae()
    with torch.no_grad():
        raw = vae.decode((latents() / vae.config.scaling_factor).half()).sample
    assert not torch.isfinite(raw).all()  # the overflow is real

    # Under inference mode, as the engine calls it.
    with caplog.at_level(logging.WARNING, logger="sfumato.engine.vae_decode"), torch.inference_mode():
        pixels, warnings = decode_latents(vae, latents().half())
    assert torch.isfinite(pixels).all()
    assert len(warnings) == 1 and "fp16" in warnings[0] and "fp32" in warnings[0]
    assert warnings[0] in caplog.text
    assert vae.dtype == torch.float16  # given back as it came
    assert not any(p.is_inference() for p in vae.parameters())

    reference = overflowing_fp16_vae().float()  # the same fp16-rounded weights
    with torch.no_grad():
        expected = reference.decode(latents().half().float() / vae.config.scaling_factor).sample
    torch.testing.assert_close(pixels, expected)


def test_without_upcast_the_broken_output_is_reported() -> None:
    pixels, warnings = decode_latents(overflowing_fp16_vae(), latents(), upcast_on_nan=False)
    assert not torch.isfinite(pixels).all()
    assert len(warnings) == 1 and "black or broken" in warnings[0]


def test_an_fp32_vae_is_not_retried() -> None:
    vae = tiny_vae()
    with torch.no_grad():
        vae.decoder.conv_in.weight.fill_(float("nan"))
    pixels, warnings = decode_latents(vae, latents())
    assert not torch.isfinite(pixels).all()
    assert warnings == ("the VAE output has NaN/inf values: the picture is black or broken",)
