"""Load time and one-picture time of the embedded model at its default settings (untrained weights, same FLOPs).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/embedded_model_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
import torch
from diffusers import DPMSolverMultistepScheduler

from sfumato.models.emoji_model import load_emoji_pipeline, save_emoji_model
from sfumato.models.families import FAMILIES, Family
from sfumato.train.base.config import PRESETS, SCHEDULER_CONFIG, build_unet, build_vae

IMPORTED = time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec, config = FAMILIES[Family.SFUMATO_EMOJI], PRESETS["base"]
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sfumato-emoji.safetensors"
        save_emoji_model(path, unet=build_unet(config), vae=build_vae(config), scheduler_config=SCHEDULER_CONFIG,
                         max_tokens=config.max_tokens)
        size_mb = path.stat().st_size / 1e6
        t = time.perf_counter()
        pipe = load_emoji_pipeline(path)
        load_s = time.perf_counter() - t
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    for autocast in (False, True):
        def one(autocast: bool = autocast) -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                pipe("a cat face, 3d style", negative_prompt="", num_inference_steps=spec.default_steps,
                     guidance_scale=spec.default_guidance, height=64, width=64,
                     generator=torch.Generator().manual_seed(0))
        one()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            one()
            times.append(time.perf_counter() - t)
        label = "bf16 autocast" if autocast else "fp32"
        print(f"threads={args.threads} {label}: one 64 px picture, {spec.default_steps} steps "
              f"{spec.default_sampler}, CFG {spec.default_guidance}: best {min(times):.3f} s, "
              f"median {sorted(times)[len(times) // 2]:.3f} s")
    print(f"file {size_mb:.1f} MB; imports {IMPORTED:.2f} s; load_emoji_pipeline {load_s:.2f} s (MiniLM included)")


if __name__ == "__main__":
    main()
