"""The shipped embedded model at its default settings: sfumato's engine beside a plain diffusers pipeline.

Both sides use the same loaded UNet, VAE and MiniLM, the same sampler (DPM++ 2M, 12 steps), CFG, size and
seed, and alternate (plain, sfumato, plain, ...) after one warm-up call each, so drift hits both. Load time is
`load_emoji_pipeline` on the file (MiniLM from its package included), measured after the imports, which
sfumato's engine pays once per process anyway.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/embedded_model_speed.py --threads 2 --repeats 7 \
        --out benchmarks/results/embedded_model_speed.jsonl
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

started = time.perf_counter()
import torch

from sfumato.engine.devices import DeviceRequest, plan_device, probe_devices
from sfumato.engine.generate import generate
from sfumato.engine.model_cache import LoadedModel
from sfumato.engine.samplers import make_scheduler
from sfumato.models.emoji_model import load_emoji_pipeline
from sfumato.models.families import FAMILIES, Family
from sfumato.models.library import EMBEDDED_MODEL, EMBEDDED_MODEL_FILE, ModelKind
from sfumato.models.library import checkpoint_entry
from sfumato.recipe import recipe_from
from recorded import report  # benchmarks/recorded.py, beside this script

IMPORTED = time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=EMBEDDED_MODEL_FILE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="Append the result as a JSON line here.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = FAMILIES[Family.SFUMATO_EMOJI]
    load_started = time.perf_counter()
    pipe = load_emoji_pipeline(args.model)
    load_s = time.perf_counter() - load_started
    pipe.set_progress_bar_config(disable=True)
    recipe = recipe_from({"prompt": "a cat face, 3d style", "model": EMBEDDED_MODEL, "sampler": spec.default_sampler,
                          "steps": spec.default_steps, "guidance_scale": spec.default_guidance,
                          "width": spec.native_size, "height": spec.native_size, "seed": 42})
    plan = plan_device(DeviceRequest(device="cpu", dtype=None), model_bytes=args.model.stat().st_size,
                       width=recipe.width, height=recipe.height, batch_size=1, probe=probe_devices())
    entry = checkpoint_entry(args.model, EMBEDDED_MODEL)
    assert entry.kind is ModelKind.CHECKPOINT and entry.family is Family.SFUMATO_EMOJI, entry
    model = LoadedModel(entry, pipe, plan, dict(pipe.scheduler.config))

    def plain() -> None:
        pipe.scheduler = make_scheduler(recipe.sampler, recipe.schedule_type, model.base_scheduler_config)
        with torch.inference_mode():
            pipe(recipe.prompt, negative_prompt="", num_inference_steps=recipe.steps,
                 guidance_scale=recipe.guidance_scale, width=recipe.width, height=recipe.height,
                 generator=torch.Generator("cpu").manual_seed(recipe.seed), output_type="pil")

    def ours() -> None:
        generate(recipe, model=model)

    timings: dict[str, list[float]] = {"diffusers": [], "sfumato": []}
    plain(), ours()  # warm-up: oneDNN primitive creation costs on the first call of a shape
    for _ in range(args.repeats):
        for name, run in (("diffusers", plain), ("sfumato", ours)):
            begun = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - begun)
    result = {
        "benchmark": "embedded_model_speed", "model": str(args.model.name),
        "model_mb": round(args.model.stat().st_size / 1e6, 1), "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "sampler": recipe.sampler, "steps": recipe.steps,
        "cfg": recipe.guidance_scale, "size": recipe.width, "imports_s": round(IMPORTED, 2), "load_s": round(load_s, 3),
        "diffusers_s": statistics.median(timings["diffusers"]), "sfumato_s": statistics.median(timings["sfumato"]),
        "diffusers_min_s": min(timings["diffusers"]), "sfumato_min_s": min(timings["sfumato"]), "all": timings,
    }
    report(result, args.out)


if __name__ == "__main__":
    main()
