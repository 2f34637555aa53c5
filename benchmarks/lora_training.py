"""LoRA training step: sfumato's trainer against a plain diffusers + peft loop, full-size SD 1.5, one run.

The SD 1.5 UNet, VAE and CLIP-L configs shipped in the package, with random weights (the FLOPs are the real
model's). Both sides train the same LoRA (rank 16 on to_q/k/v/out.0, AdamW, Min-SNR 5, batch 1) on the same four
64 px pictures; each side runs in its own subprocess so its peak memory is its own. Steps after the first
(warm-up) are timed.

    .venv/bin/python benchmarks/lora_training.py --size 64 --steps 4 --out benchmarks/results/lora_training.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

RANK = 16
TARGETS = ("to_k", "to_q", "to_v", "to_out.0")


def full_size_sd15() -> Any:
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    configs = resources.files("sfumato.models") / "configs" / "sd1"
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(json.loads((configs / "unet" / "config.json").read_text()))
    vae = AutoencoderKL.from_config(json.loads((configs / "vae" / "config.json").read_text()))
    text = CLIPTextModel(CLIPTextConfig(**json.loads((configs / "text_encoder" / "config.json").read_text())))
    tokenizer = CLIPTokenizer.from_pretrained(str(resources.files("sfumato.models") / "tokenizers" / "clip"))
    scheduler = DDPMScheduler.from_config(json.loads((configs / "scheduler" / "scheduler_config.json").read_text()))
    return StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def make_pictures(folder: Path, size: int) -> Path:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i, colour in enumerate(("red", "green", "blue", "orange")):
        image = Image.new("RGB", (size, size), "white")
        ImageDraw.Draw(image).ellipse((size // 8, size // 8, size - size // 8, size - size // 8), fill=colour)
        image.save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"a {colour} disc, flat")
    return folder


def run_sfumato(size: int, steps: int, work: Path) -> list[float]:
    from sfumato.train.lora.plan import make_plan
    from sfumato.train.lora.trainer import LoraRun, train_lora

    plan = make_plan({"name": "bench", "base": "sd15-random", "base_hash": "0" * 64, "family": "sd1",
                      "dataset": make_pictures(work / "data", size), "steps": steps, "batch": 1, "resolution": size,
                      "rank": RANK, "alpha": float(RANK), "unet_target_modules": TARGETS, "learning_rate": 1e-4,
                      "min_image_size": size, "checkpoint_every": 10**6})
    train_lora(plan, pipe=full_size_sd15(), run=LoraRun(work / "run", work / "bench.safetensors", work / "cache"),
               cpu=True)
    seconds = [json.loads(line)["seconds"] for line in (work / "run" / "log.jsonl").read_text().splitlines()]
    return [b - a for a, b in zip(seconds, seconds[1:], strict=False)]  # per step, from the second on


def run_plain(size: int, steps: int, work: Path) -> list[float]:
    """The loop of diffusers' train_text_to_image_lora.py, reduced to its training step."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from diffusers.training_utils import compute_snr
    from peft import LoraConfig
    from PIL import Image

    pipe = full_size_sd15()
    for part in (pipe.unet, pipe.vae, pipe.text_encoder):
        part.requires_grad_(False)
    pipe.unet.add_adapter(LoraConfig(r=RANK, lora_alpha=RANK, init_lora_weights="gaussian", target_modules=list(TARGETS)))
    folder = make_pictures(work / "data", size)
    with torch.no_grad():
        x = torch.stack([torch.from_numpy(np.asarray(Image.open(folder / f"{i}.png"), dtype=np.float32) / 127.5 - 1)
                         .permute(2, 0, 1) for i in range(4)])
        latents = pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor
        ids = pipe.tokenizer([(folder / f"{i}.txt").read_text() for i in range(4)], padding="max_length",
                             max_length=77, truncation=True, return_tensors="pt").input_ids
        states = pipe.text_encoder(ids)[0]
    params = [p for p in pipe.unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
    scheduler, times = pipe.scheduler, []
    for step in range(steps):
        started = time.perf_counter()
        i = step % 4
        noise = torch.randn_like(latents[i:i + 1])
        t = torch.randint(0, 1000, (1,))
        predicted = pipe.unet(scheduler.add_noise(latents[i:i + 1], noise, t), t, states[i:i + 1]).sample
        snr = compute_snr(scheduler, t)
        loss = (F.mse_loss(predicted, noise, reduction="none").mean(dim=(1, 2, 3)) * snr.clamp(max=5.0) / snr).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return times[1:]


def child(side: str, size: int, steps: int) -> None:
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        times = (run_sfumato if side == "sfumato" else run_plain)(size, steps, Path(work))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"side": side, "step_seconds": times, "peak_rss_gib": round(peak_gib, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4, help="Training steps per side (the first is warm-up).")
    parser.add_argument("--out", type=Path, default=None, help="Append the result as a JSON line here.")
    parser.add_argument("--child", choices=("sfumato", "diffusers"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.size, args.steps)
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
                              "size": args.size, "steps": args.steps, "rank": RANK}
    for side in ("diffusers", "sfumato"):
        out = subprocess.run([sys.executable, __file__, "--child", side, "--size", str(args.size), "--steps",
                              str(args.steps)], check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        result[side] = {"steps_per_second": round(1 / statistics.median(row["step_seconds"]), 4),
                        "median_step_s": round(statistics.median(row["step_seconds"]), 3),
                        "min_step_s": round(min(row["step_seconds"]), 3), "peak_rss_gib": row["peak_rss_gib"]}
    result["ratio_median"] = round(result["sfumato"]["median_step_s"] / result["diffusers"]["median_step_s"], 3)
    print(json.dumps(result, indent=1))
    if args.out:
        with args.out.open("a", encoding="utf-8") as file:
            file.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
