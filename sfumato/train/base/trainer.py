"""`train_base`: the embedded model's recipe. Phase 1 trains the VAE on the pictures, phase 2 the UNet on its
latents with frozen MiniLM caption states; the EMA weights are packaged as one file at the end.

Output folder: run.json (plan, config, latent scale), log.jsonl, loss.png, samples/, checkpoints/,
captions.safetensors (token-state cache) and sfumato-emoji.safetensors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput
from sfumato.train.base.caption_states import caption_states
from sfumato.train.base.config import (
    PRESETS,
    EmojiModelConfig,
    build_scheduler,
    build_unet,
    build_vae,
    config_from_json,
)
from sfumato.train.base.data import caption_table, load_pixels, read_examples
from sfumato.train.base.loop import PhaseSpec, StepFn, run_phase
from sfumato.train.base.objectives import Batching, encode_latents, unet_objective, vae_objective
from sfumato.train.base.package import package_run, read_run
from sfumato.train.base.reporting import plot_losses
from sfumato.train.base.samples import UNetSampler, save_vae_samples

StatusFn = Callable[[str], None]
_RESUME_MUST_MATCH = ("preset", "seed", "batch", "dataset", "limit")


@dataclass(frozen=True)
class BaseTrainingPlan:
    dataset: Path
    out: Path
    # Defaults: the recipe of the shipped weights (about 2.5 hours on 2 CPU cores with --bf16).
    steps: int = 9_500  # UNet steps
    cooldown: int = 2_000  # last UNet steps (at most all of them), over which the learning rate falls linearly to 0
    vae_steps: int = 1_500
    batch: int = 32
    lr: float = 3e-4
    warmup: int = 200  # learning-rate warm-up steps, per phase; independent of `steps` so a run can be extended
    vae_lr: float = 4e-4
    vae_crop: int | None = 32  # VAE phase trains on random crops this size (None: whole pictures)
    seed: int = 0
    caption_dropout: float = 0.1  # share of captions replaced by "" so classifier-free guidance works
    sample_every: int = 1_000
    checkpoint_every: int = 1_000
    device: str = "cpu"
    bf16: bool = False
    preset: str = "base"  # a key of config.PRESETS; "tiny" for tests
    limit: int | None = None  # first N pictures only
    resume: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def _prepare_run(plan: BaseTrainingPlan) -> tuple[EmojiModelConfig, dict[str, Any]]:
    """The run's config; a new run.json, or the old one checked against the plan when resuming."""
    run_file = plan.out / "run.json"
    if run_file.is_file():
        if not plan.resume:
            raise BadInput(f"--out: {str(plan.out)!r} already holds a training run",
                           hint="add --resume to continue it, or choose another folder")
        saved = read_run(plan.out)
        current = plan.to_json()
        for key in _RESUME_MUST_MATCH:
            if saved["plan"][key] != current[key]:
                raise BadInput(f"--resume: {key} must stay {saved['plan'][key]!r} to continue this run, "
                               f"got {current[key]!r}")
        # The rest (steps, cool-down, rates, intervals) may change on resume: run.json records the plan now
        # followed, so `train status` counts towards the resumed run's steps.
        saved = {**saved, "plan": current}
        _write_run(plan.out, saved)
        return config_from_json(saved["config"]), saved
    if plan.out.exists() and any(plan.out.iterdir()):
        raise BadInput(f"--out: {str(plan.out)!r} is not empty and holds no training run")
    if plan.preset not in PRESETS:
        raise BadInput(f"preset must be one of {sorted(PRESETS)}, got {plan.preset!r}")
    config = PRESETS[plan.preset]
    saved = {"plan": plan.to_json(), "config": config.to_json()}
    _write_run(plan.out, saved)
    return config, saved


def _write_run(out: Path, saved: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "run.json", json.dumps(saved, indent=1, sort_keys=True).encode())


def _seeded(build: Callable[[], Any], seed: int) -> Any:
    # fork_rng: the initial weights depend on the seed only, and the caller's global RNG is left alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _phase(plan: BaseTrainingPlan, name: str, steps: int, lr: float, seed: int, cooldown: int = 0) -> PhaseSpec:
    return PhaseSpec(name, steps, lr, seed, warmup=plan.warmup, cooldown=min(cooldown, steps),
                     checkpoint_every=plan.checkpoint_every, sample_every=plan.sample_every)


def train_base(plan: BaseTrainingPlan, *, on_step: StepFn | None = None,
               on_status: StatusFn | None = None) -> Path:
    """Run (or resume) the whole recipe; returns the packaged model file."""
    status = on_status or (lambda message: None)
    config, saved = _prepare_run(plan)
    batching = Batching(plan.batch, torch.device(plan.device), plan.bf16)
    examples = read_examples(plan.dataset, limit=plan.limit)
    status(f"{len(examples)} pictures from {plan.dataset}")
    pixels = load_pixels(examples, config.resolution)  # (N, 3, R, R) uint8
    vae = _train_vae(plan, config, pixels, batching, on_step)
    latents, scale = encode_latents(vae, pixels, batching)
    vae.register_to_config(scaling_factor=scale)
    _write_run(plan.out, {**saved, "latent_scale": scale})
    table = caption_table(examples)
    status(f"encoding {len(table.captions)} captions with MiniLM (cached in captions.safetensors)")
    states = caption_states(table.captions, max_tokens=config.max_tokens, cache=plan.out / "captions.safetensors")
    sampler = UNetSampler(vae=vae, max_tokens=config.max_tokens, resolution=config.resolution,
                          device=batching.device)
    unet = _seeded(lambda: build_unet(config), plan.seed + 1).to(batching.device)
    objective = unet_objective(latents, states, table, scheduler=build_scheduler(),
                               caption_dropout=plan.caption_dropout, batching=batching)

    def on_sample(ema: torch.nn.Module, step: int) -> None:
        sampler(ema, plan.out / "samples" / f"unet-{step:06d}.png")
        plot_losses(plan.out / "log.jsonl", plan.out / "loss.png")

    unet = run_phase(_phase(plan, "unet", plan.steps, plan.lr, plan.seed + 1, plan.cooldown), model=unet, loss_fn=objective,
                     run=plan.out, resume=plan.resume, on_step=on_step, on_sample=on_sample)
    status("drawing the final samples and packaging the EMA weights")
    sampler(unet, plan.out / "samples" / "unet-final.png")
    plot_losses(plan.out / "log.jsonl", plan.out / "loss.png")
    return package_run(plan.out)


def _train_vae(plan: BaseTrainingPlan, config: EmojiModelConfig, pixels: torch.Tensor, batching: Batching,
               on_step: StepFn | None) -> Any:
    samples = plan.out / "samples"

    def on_sample(ema: torch.nn.Module, step: int) -> None:
        save_vae_samples(ema, pixels, samples / f"vae-{step:06d}.png", device=batching.device)
        plot_losses(plan.out / "log.jsonl", plan.out / "loss.png")

    vae = _seeded(lambda: build_vae(config), plan.seed).to(batching.device)
    vae = run_phase(_phase(plan, "vae", plan.vae_steps, plan.vae_lr, plan.seed), model=vae,
                    loss_fn=vae_objective(pixels, batching, plan.vae_crop), run=plan.out, resume=plan.resume, on_step=on_step,
                    on_sample=on_sample)
    save_vae_samples(vae, pixels, samples / "vae-final.png", device=batching.device)
    return vae
