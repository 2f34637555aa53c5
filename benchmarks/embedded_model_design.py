"""Forward costs of embedded-model candidates on this CPU: UNet per CFG call (batch 2) and VAE decode, fp32 and bf16.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/embedded_model_design.py --threads 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from sfumato.train.base.config import EmojiModelConfig, build_unet, build_vae

CANDIDATES = {
    "pixel 64x64, UNet (32,64,128)": (EmojiModelConfig(vae_channels=(3,), latent_channels=3, unet_channels=(32, 64, 128)), True),
    "pixel 64x64, UNet (64,128,256)": (EmojiModelConfig(vae_channels=(3,), latent_channels=3), True),
    "latent 16x16x4, UNet (64,128,256) x1": (EmojiModelConfig(), False),
    "latent 16x16x4, UNet (64,128,256) x2": (EmojiModelConfig(unet_layers=2), False),
    "latent 16x16x4, UNet (96,192,384) x1": (EmojiModelConfig(unet_channels=(96, 192, 384)), False),
    "latent 16x16x4, UNet (128,256,256) x2": (EmojiModelConfig(unet_channels=(128, 256, 256), unet_layers=2), False),
}


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def time_unet(config: EmojiModelConfig, pixel: bool, repeats: int) -> tuple[int, float, float]:
    unet = build_unet(config).eval()
    size = config.resolution if pixel else config.latent_size
    sample = torch.randn(2, config.latent_channels, size, size)
    context = torch.randn(2, config.max_tokens, 384)
    t = torch.tensor([500, 500])

    def fp32() -> None:
        with torch.inference_mode():
            unet(sample, t, context)

    def bf16() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            unet(sample, t, context)

    params = sum(p.numel() for p in unet.parameters())
    return params, best_of(fp32, repeats), best_of(bf16, repeats)


def time_vae(config: EmojiModelConfig, repeats: int) -> tuple[int, float, float]:
    vae = build_vae(config).eval()
    latents = torch.randn(1, config.latent_channels, config.latent_size, config.latent_size)

    def fp32() -> None:
        with torch.inference_mode():
            vae.decode(latents)

    def bf16() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            vae.decode(latents)

    return sum(p.numel() for p in vae.parameters()), best_of(fp32, repeats), best_of(bf16, repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads={args.threads} torch={torch.__version__}")
    for name, (config, pixel) in CANDIDATES.items():
        params, fp32, bf16 = time_unet(config, pixel, args.repeats)
        print(f"UNet {name}: {params / 1e6:.1f}M params, fp32 {fp32:.1f} ms, bf16 {bf16:.1f} ms per CFG call")
    for channels in ((32, 64, 128), (64, 128, 128)):
        params, fp32, bf16 = time_vae(replace(EmojiModelConfig(), vae_channels=channels), args.repeats)
        print(f"VAE decode 64 px, channels {channels}: {params / 1e6:.2f}M params, fp32 {fp32:.1f} ms, bf16 {bf16:.1f} ms")


if __name__ == "__main__":
    main()
