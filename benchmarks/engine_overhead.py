"""sfumato's engine against a plain diffusers pipeline: same model, scheduler, steps, size and seed, one run.

Full-size SD 1.5 configs (bundled in the package) with random weights: the FLOPs are those of the real
model, so the timings are real. Runs alternate (plain, sfumato, plain, ...) so drift hits both sides.

    .venv/bin/python benchmarks/engine_overhead.py --size 128 --steps 5 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from importlib import resources
from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from sfumato.engine.devices import DeviceProbe, DeviceRequest, plan_device, probe_devices
from sfumato.engine.generate import generate
from sfumato.engine.model_cache import LoadedModel
from sfumato.engine.samplers import make_scheduler
from sfumato.models.families import Family
from sfumato.models.library import ModelEntry, ModelKind
from sfumato.recipe import recipe_from
from recorded import report  # benchmarks/recorded.py, beside this script


def full_size_sd15(device: torch.device, dtype: torch.dtype) -> StableDiffusionPipeline:
    configs = resources.files("sfumato.models") / "configs" / "sd1"
    tokenizer_dir = resources.files("sfumato.models") / "tokenizers" / "clip"
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(json.loads((configs / "unet" / "config.json").read_text()))
    vae = AutoencoderKL.from_config(json.loads((configs / "vae" / "config.json").read_text()))
    text = CLIPTextModel(CLIPTextConfig(**json.loads((configs / "text_encoder" / "config.json").read_text())))
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
    scheduler = make_scheduler("Euler", "Automatic", json.loads((configs / "scheduler" / "scheduler_config.json").read_text()))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sampler", default="Euler")
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", type=Path, default=None, help="Append the result as a JSON line here.")
    args = parser.parse_args()

    probe: DeviceProbe = probe_devices()
    recipe = recipe_from({"prompt": "a watercolor otter holding a teacup", "negative_prompt": "blurry",
                          "model": "sd15-random", "sampler": args.sampler, "steps": args.steps,
                          "width": args.size, "height": args.size, "seed": 42, "device": args.device})
    plan = plan_device(DeviceRequest(device=recipe.device, dtype=recipe.dtype), model_bytes=2 * 10**9,
                       width=args.size, height=args.size, batch_size=1, probe=probe)
    pipe = full_size_sd15(plan.device, plan.dtype)
    entry = ModelEntry("sd15-random", None, ModelKind.CHECKPOINT, Family.SD1, "random weights", 0)
    model = LoadedModel(entry, pipe, plan, dict(pipe.scheduler.config))

    def plain() -> None:
        pipe.scheduler = make_scheduler(recipe.sampler, recipe.schedule_type, model.base_scheduler_config)
        with torch.inference_mode():
            pipe(recipe.prompt, negative_prompt=recipe.negative_prompt, num_inference_steps=recipe.steps,
                 guidance_scale=recipe.guidance_scale, width=recipe.width, height=recipe.height,
                 generator=torch.Generator("cpu").manual_seed(recipe.seed), output_type="pil")

    def ours() -> None:
        generate(recipe, model=model)

    timings: dict[str, list[float]] = {"diffusers": [], "sfumato": []}
    plain(), ours()  # warm-up: oneDNN primitive creation costs 1-3 s on the first call of a shape
    for _ in range(args.repeats):
        for name, run in (("diffusers", plain), ("sfumato", ours)):
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    result = {
        "benchmark": "engine_overhead", "model": "SD 1.5 full-size configs, random weights",
        "device": str(plan.device), "dtype": str(plan.dtype), "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "size": args.size, "steps": args.steps, "sampler": args.sampler,
        "diffusers_s": statistics.median(timings["diffusers"]), "sfumato_s": statistics.median(timings["sfumato"]),
        "all": timings,
    }
    result["ratio"] = result["sfumato_s"] / result["diffusers_s"]
    # On a shared CPU the median carries other processes' noise; the fastest run of each is the cleaner figure.
    result["ratio_of_minimums"] = min(timings["sfumato"]) / min(timings["diffusers"])
    report(result, args.out)


if __name__ == "__main__":
    main()
