"""`train_lora`: a TrainingPlan and a loaded pipeline in, a kohya-layout LoRA file out (or, with the plan's
`output` "full", every UNet weight trained and a new model file out).

Checks the dataset first (errors refuse it), caches latents, trains peft LoRA layers under accelerate, logs
each step, samples and checkpoints every N steps, stops cleanly when asked (Ctrl+C), resumes exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from accelerate.state import AcceleratorState, GradientState
from diffusers import DDPMScheduler

from sfumato.errors import JobCancelled
from sfumato.train.base.loop import StepFn, StepReport
from sfumato.train.base.reporting import append_log, plot_losses
from sfumato.train.dataset.buckets import make_buckets
from sfumato.train.dataset.cache import CacheStats, EncodingCache, weights_fingerprint
from sfumato.train.dataset.check import check_dataset
from sfumato.train.dataset.folder import DatasetItem, class_items, read_dataset
from sfumato.train.lora.conditioning import text_models
from sfumato.train.lora.checkpoint import checkpoint_paths, load_lora_checkpoint, save_lora_checkpoint
from sfumato.train.lora.examples import epoch_batches, prepare_examples
from sfumato.train.lora.export import export_lora
from sfumato.train.lora.export_full import export_model
from sfumato.train.lora.objective import LossTerms, Objective
from sfumato.train.lora.plan import TrainingPlan
from sfumato.train.lora.run import mark_failed, start_run, started_at, write_status
from sfumato.train.lora.samples import SamplePicture, draw_samples, save_sample_grid
from sfumato.train.lora.setup import Setup, prepare


@dataclass(frozen=True)
class LoraRun:
    folder: Path  # the run folder (<home>/training/NAME)
    output: Path  # the LoRA file (<home>/models/Lora/NAME.safetensors); full: <home>/models/Stable-diffusion/...
    cache: Path  # latents and text states, shared by runs (<home>/cache/training)
    base_file: Path | None = None  # the base model's file: a full fine-tune of the embedded model reads its configs


@dataclass(frozen=True)
class Hooks:
    on_step: StepFn | None = None
    on_samples: Callable[[list[SamplePicture]], None] | None = None
    should_stop: Callable[[], bool] = field(default=lambda: False)
    on_status: Callable[[str], None] = field(default=lambda message: None)
    # Builds the samples' scheduler from the base model's config (the edge passes the engine's sampler table).
    sample_scheduler: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class LoraResult:
    output: Path
    step: int
    cache: CacheStats


def _batches(examples: Any, plan: TrainingPlan, setup: Setup, seed: int) -> Callable[[int], list[int]]:
    """Micro-batch m -> example indices; process p of n takes every n-th batch, so GPUs see different data."""
    epochs: dict[int, list[list[int]]] = {}
    per_epoch = len(epoch_batches(examples, batch=plan.batch, seed=seed, epoch=0))

    def batch(m: int) -> list[int]:
        epoch, position = divmod(m * setup.accelerator.num_processes + setup.accelerator.process_index, per_epoch)
        if epoch not in epochs:
            epochs.clear()  # one epoch's order at a time
            epochs[epoch] = epoch_batches(examples, batch=plan.batch, seed=seed, epoch=epoch)
        return epochs[epoch][position]

    return batch


def train_lora(plan: TrainingPlan, *, pipe: Any, run: LoraRun, resume: bool = False, hooks: Hooks = Hooks(),
               cpu: bool = False) -> LoraResult:
    """Train (or resume) the run; returns the LoRA (or model) file. Raises JobCancelled after saving when stopped."""
    try:
        return _train(plan, pipe=pipe, run=run, resume=resume, hooks=hooks, cpu=cpu)
    except Exception:
        mark_failed(run.folder)  # JobCancelled too only if the stop did not get to say "stopped"
        raise
    finally:
        # accelerate keeps its settings in process-wide singletons and refuses a second Accelerator with another
        # precision; forget them so the next run in this process (a test, a queue worker) starts fresh.
        AcceleratorState._reset_state()
        GradientState._reset_state()


def _train(plan: TrainingPlan, *, pipe: Any, run: LoraRun, resume: bool, hooks: Hooks, cpu: bool) -> LoraResult:
    check_dataset(plan.dataset, min_size=plan.min_image_size, default_caption=plan.instance_prompt).raise_for_errors()
    start_run(run.folder, plan, resume=resume)
    items = read_dataset(plan.dataset, default_caption=plan.instance_prompt)
    priors = class_items(plan.class_data, plan.class_prompt) if plan.class_data is not None else []
    # Fingerprint before the adapters change the text encoders' state dicts.
    cache = EncodingCache(run.cache, plan.base_hash or weights_fingerprint(
        pipe.vae, *(getattr(pipe, name) for name in text_models(pipe).names)))
    setup = prepare(pipe, plan, cpu=cpu)
    hooks.on_status(f"{len(items)} pictures ({len(priors)} class pictures); encoding latents (cached in {run.cache})")
    terms = _loss_terms(plan, pipe, setup, cache, items, priors)
    generator = torch.Generator().manual_seed(plan.seed + setup.accelerator.process_index)
    paths = checkpoint_paths(run.folder)
    step = 0
    if resume and paths.exists():
        step = load_lora_checkpoint(paths, models=_unwrapped(setup), optimizer=setup.optimizer,
                                    lr_scheduler=setup.lr_scheduler, generator=generator)
        hooks.on_status(f"resumed at step {step}")
    step = _loop(plan, setup, terms, generator, run, step, hooks)
    hooks.on_status(f"writing {run.output}")
    if setup.accelerator.is_main_process:
        _export(plan, pipe, setup, run, terms, items, priors, step)
        _samples(pipe, plan, setup, run, step, hooks)
        write_status(run.folder, state="finished", step=step, steps=plan.steps, output=run.output)
    return LoraResult(run.output, step, cache.stats)


def _export(plan: TrainingPlan, pipe: Any, setup: Setup, run: LoraRun, terms: LossTerms, items: list[DatasetItem],
            priors: list[DatasetItem], step: int) -> None:
    if plan.output == "full":
        export_model(run.output, plan, pipe=pipe, base_file=run.base_file, items=items, priors=priors, step=step,
                     started_at=started_at(run.folder))
        return
    export_lora(run.output, plan, models=_unwrapped(setup), sdxl=setup.sdxl, examples=terms.main.examples,
                items=items, priors=priors, step=step, started_at=started_at(run.folder))


def _loss_terms(plan: TrainingPlan, pipe: Any, setup: Setup, cache: EncodingCache, items: list[DatasetItem],
                priors: list[DatasetItem]) -> LossTerms:
    device = setup.accelerator.device
    buckets = make_buckets(plan.resolution, int(pipe.vae_scale_factor) * 8)
    examples = prepare_examples(items, vae=pipe.vae, buckets=buckets, cache=cache, device=device)
    frozen_text = not plan.train_text_encoder and not plan.shuffle_tags
    main = Objective(plan, pipe, DDPMScheduler.from_config(pipe.scheduler.config), examples,
                     cache if frozen_text else None, device, setup.weight_dtype, setup.sdxl)
    if not priors:
        return LossTerms(main, _batches(examples, plan, setup, plan.seed))
    prior_examples = prepare_examples(priors, vae=pipe.vae, buckets=buckets, cache=cache, device=device)
    # Class captions never shuffle or drop: prior preservation keeps the class prompt's meaning as it was.
    prior_plan = plan.model_copy(update={"shuffle_tags": False, "caption_dropout": 0.0})
    prior = replace(main, plan=prior_plan, examples=prior_examples, text_cache=cache if not plan.train_text_encoder
                    else None)
    return LossTerms(main, _batches(examples, plan, setup, plan.seed), prior,
                     _batches(prior_examples, plan, setup, plan.seed + 1))


def _unwrapped(setup: Setup) -> dict[str, torch.nn.Module]:
    return {name: setup.accelerator.unwrap_model(model) for name, model in setup.models.items()}


def _one_step(setup: Setup, terms: LossTerms, generator: torch.Generator, step: int) -> float:
    """One optimizer step over gradient_accumulation_steps micro-batches; returns their mean loss."""
    plan = terms.main.plan
    accumulation = plan.gradient_accumulation_steps
    params = [p for model in setup.models.values() for p in model.parameters() if p.requires_grad]
    losses = []
    for k in range(accumulation):
        with setup.accelerator.accumulate(*setup.models.values()), setup.accelerator.autocast():
            loss = terms(setup.models["unet"], step * accumulation + k, generator)
            setup.accelerator.backward(loss)
            if setup.accelerator.sync_gradients:
                setup.accelerator.clip_grad_norm_(params, plan.max_grad_norm)
            setup.optimizer.step()
            setup.lr_scheduler.step()
            setup.optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return sum(losses) / len(losses)


def _loop(plan: TrainingPlan, setup: Setup, terms: LossTerms, generator: torch.Generator, run: LoraRun, step: int,
          hooks: Hooks) -> int:
    main = setup.accelerator.is_main_process
    started, resumed_from = time.perf_counter(), step
    write_status(run.folder, state="running", step=step, steps=plan.steps)
    for model in setup.models.values():
        model.train()
    while step < plan.steps:
        loss = _one_step(setup, terms, generator, step)
        step += 1
        lr = float(setup.lr_scheduler.get_last_lr()[0])
        report = StepReport(plan.output, step, plan.steps, loss, lr, time.perf_counter() - started, resumed_from)
        if main:
            append_log(run.folder, {"phase": plan.output, "step": step, "loss": loss, "lr": lr,
                                    "seconds": round(report.seconds, 3)})
        if hooks.on_step is not None:
            hooks.on_step(report)
        stopping = hooks.should_stop()
        if main and (step % plan.checkpoint_every == 0 or step == plan.steps or stopping):
            save_lora_checkpoint(checkpoint_paths(run.folder), models=_unwrapped(setup), optimizer=setup.optimizer,
                                 lr_scheduler=setup.lr_scheduler, generator=generator, step=step)
            plot_losses(run.folder / "log.jsonl", run.folder / "loss.png")
            write_status(run.folder, state="stopped" if stopping else "running", step=step, steps=plan.steps)
        if stopping:
            raise JobCancelled(f"training stopped at step {step} of {plan.steps}; the checkpoint is saved",
                               hint=f"continue with the same command and --resume (run folder {run.folder})")
        if main and plan.sample_every and step % plan.sample_every == 0 and step < plan.steps:
            _samples(terms.main.pipe, plan, setup, run, step, hooks)
    return step


def _samples(pipe: Any, plan: TrainingPlan, setup: Setup, run: LoraRun, step: int, hooks: Hooks) -> None:
    if not plan.sample_prompts:
        return
    pictures = draw_samples(pipe, plan, step=step, accelerator=setup.accelerator, scheduler=hooks.sample_scheduler)
    save_sample_grid(pictures, run.folder / "samples", step)
    if hooks.on_samples is not None:
        hooks.on_samples(pictures)
