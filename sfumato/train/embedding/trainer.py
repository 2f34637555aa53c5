"""`train_embedding`: an EmbeddingPlan and a loaded pipeline in, an A1111 embedding file out.

Everything but the new vectors is frozen. Reuses the LoRA trainer's pieces: dataset check and cache, buckets,
the run folder and its status, checkpoints (exact --resume), the JSON-lines log and loss plot, sample grids, hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler

from sfumato.errors import BadInput, JobCancelled
from sfumato.models.families import Family
from sfumato.prompt.encode import PromptComponents
from sfumato.train.base.checkpoint import CheckpointPaths
from sfumato.train.base.loop import StepReport
from sfumato.train.base.reporting import append_log, plot_losses
from sfumato.train.dataset.buckets import make_buckets
from sfumato.train.dataset.cache import CacheStats, EncodingCache, weights_fingerprint
from sfumato.train.dataset.check import check_dataset
from sfumato.train.dataset.folder import DatasetItem, read_dataset
from sfumato.train.embedding.export import save_embedding
from sfumato.train.embedding.objective import EmbeddingObjective
from sfumato.train.embedding.plan import EmbeddingPlan, check_family, read_embedding_plan
from sfumato.train.embedding.samples import draw_embedding_samples
from sfumato.train.embedding.vectors import LearnedVectors, TrainedInversion, initial_vectors
from sfumato.train.lora.checkpoint import load_lora_checkpoint, save_lora_checkpoint
from sfumato.train.lora.conditioning import text_models
from sfumato.train.lora.examples import Example, epoch_batches, prepare_examples
from sfumato.train.lora.run import mark_failed, start_run, write_status
from sfumato.train.lora.samples import save_sample_grid
from sfumato.train.lora.setup import WEIGHT_DTYPES, place
from sfumato.train.lora.trainer import Hooks


@dataclass(frozen=True)
class EmbeddingRun:
    folder: Path  # the run folder (<home>/training/embedding-TOKEN)
    output: Path  # the embedding file (<home>/embeddings/TOKEN.safetensors)
    cache: Path  # latents, shared with LoRA runs (<home>/cache/training)


@dataclass(frozen=True)
class EmbeddingResult:
    output: Path
    step: int
    cache: CacheStats


@dataclass(frozen=True)
class _Training:
    """What one run trains with, set up once."""

    plan: EmbeddingPlan
    accelerator: Accelerator
    learned: LearnedVectors
    objective: EmbeddingObjective
    optimizer: Any  # accelerate's AcceleratedOptimizer around AdamW
    lr_scheduler: Any
    batch: Callable[[int], list[int]]


def train_embedding(plan: EmbeddingPlan, *, pipe: Any, run: EmbeddingRun, resume: bool = False,
                    hooks: Hooks = Hooks(), cpu: bool = False) -> EmbeddingResult:
    """Train (or resume) the run; returns the embedding file. Raises JobCancelled after saving when stopped."""
    try:
        return _train(plan, pipe=pipe, run=run, resume=resume, hooks=hooks, cpu=cpu)
    except Exception:
        mark_failed(run.folder)
        raise
    finally:
        AcceleratorState._reset_state()  # accelerate's process-wide singletons (see lora/trainer.py)
        GradientState._reset_state()


def _train(plan: EmbeddingPlan, *, pipe: Any, run: EmbeddingRun, resume: bool, hooks: Hooks,
           cpu: bool) -> EmbeddingResult:
    check_family(Family(plan.family), plan.base)
    check_dataset(plan.dataset, min_size=plan.min_image_size, captions_required=False).raise_for_errors()
    start_run(run.folder, plan, resume=resume, reader=read_embedding_plan)
    items = read_dataset(plan.dataset)
    names = text_models(pipe).names
    fingerprint = plan.base_hash or weights_fingerprint(pipe.vae, *(getattr(pipe, n) for n in names))
    cache = EncodingCache(run.cache, fingerprint)
    hooks.on_status(f"{len(items)} pictures; encoding latents (cached in {run.cache})")
    training = _setup(plan, pipe, cpu, items, cache)
    generator = torch.Generator().manual_seed(plan.seed)
    paths = CheckpointPaths.of(run.folder, "embedding")
    step = 0
    if resume and paths.exists():
        step = load_lora_checkpoint(paths, models={"embedding": training.learned}, optimizer=training.optimizer,
                                    lr_scheduler=training.lr_scheduler, generator=generator)
        hooks.on_status(f"resumed at step {step}")
    step = _loop(training, generator, run, step, hooks)
    hooks.on_status("writing the embedding file")
    save_embedding(run.output, training.learned.tensors(), plan, step)
    _samples(training, run, step, hooks)
    write_status(run.folder, state="finished", step=step, steps=plan.steps, output=run.output)
    return EmbeddingResult(run.output, step, cache.stats)


def _setup(plan: EmbeddingPlan, pipe: Any, cpu: bool, items: Sequence[DatasetItem], cache: EncodingCache) -> _Training:
    """Freeze the model, encode the pictures, make the vectors (from the init word), AdamW over them alone."""
    if plan.mixed_precision == "fp16" and (cpu or not torch.cuda.is_available()):
        raise BadInput("mixed_precision: 'fp16' needs a CUDA device; got none", hint="use bf16 or no")
    accelerator = Accelerator(mixed_precision=plan.mixed_precision, cpu=cpu)
    if accelerator.num_processes > 1:  # a few thousand weights: one device is plenty, and one process writes files
        raise BadInput(f"processes: textual inversion trains in one process, got {accelerator.num_processes} "
                       "(accelerate launch)", hint="run `sfumato train embedding` without accelerate launch")
    device, dtype = accelerator.device, WEIGHT_DTYPES[plan.mixed_precision]
    for name in ("unet", *text_models(pipe).names):
        place(getattr(pipe, name).requires_grad_(False).eval(), device, dtype)  # eval: no dropout when frozen
    place(pipe.vae.requires_grad_(False).eval(), device, torch.float32)  # fp32: SDXL's VAE overflows in fp16
    buckets = make_buckets(plan.resolution, int(pipe.vae_scale_factor) * 8)
    examples = prepare_examples(items, vae=pipe.vae, buckets=buckets, cache=cache, device=device)
    components = PromptComponents.from_pipeline(pipe)
    learned = LearnedVectors(initial_vectors(components, plan.init_word, plan.vectors)).to(device)
    components = replace(components, embeddings=TrainedInversion(plan.token, learned, plan.vectors))
    optimizer = torch.optim.AdamW(learned.parameters(), lr=plan.learning_rate, weight_decay=plan.weight_decay)
    lr_scheduler = get_scheduler(plan.lr_scheduler, optimizer=optimizer, num_warmup_steps=plan.lr_warmup_steps,
                                 num_training_steps=plan.steps)
    # Prepared, so fp16's gradient scaler unscales before the step (and skips steps that overflowed).
    optimizer, lr_scheduler = accelerator.prepare(optimizer, lr_scheduler)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    objective = EmbeddingObjective(plan, pipe, noise_scheduler, examples, None,  # type: ignore[arg-type]
                                   device, dtype, text_models(pipe).is_sdxl, components)
    return _Training(plan, accelerator, learned, objective, optimizer, lr_scheduler, _batches(examples, plan))


def _batches(examples: Sequence[Example], plan: EmbeddingPlan) -> Callable[[int], list[int]]:
    """Step m -> example indices: the LoRA trainer's epochs (repeats, buckets, order fixed by the seed)."""
    per_epoch = len(epoch_batches(examples, batch=plan.batch, seed=plan.seed, epoch=0))

    def batch(m: int) -> list[int]:
        epoch, position = divmod(m, per_epoch)
        return epoch_batches(examples, batch=plan.batch, seed=plan.seed, epoch=epoch)[position]

    return batch


def _one_step(training: _Training, generator: torch.Generator, step: int) -> float:
    plan = training.plan
    with training.accelerator.autocast():
        loss = training.objective.loss(training.objective.pipe.unet, training.batch(step), generator)
    training.accelerator.backward(loss)
    if plan.max_grad_norm is not None:
        training.accelerator.clip_grad_norm_(training.learned.parameters(), plan.max_grad_norm)
    training.optimizer.step()
    training.lr_scheduler.step()
    training.optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def _loop(training: _Training, generator: torch.Generator, run: EmbeddingRun, step: int, hooks: Hooks) -> int:
    plan = training.plan
    started, resumed_from = time.perf_counter(), step
    write_status(run.folder, state="running", step=step, steps=plan.steps)
    while step < plan.steps:
        loss = _one_step(training, generator, step)
        step += 1
        lr = float(training.lr_scheduler.get_last_lr()[0])
        report = StepReport("embedding", step, plan.steps, loss, lr, time.perf_counter() - started, resumed_from)
        append_log(run.folder, {"phase": "embedding", "step": step, "loss": loss, "lr": lr,
                                "seconds": round(report.seconds, 3)})
        if hooks.on_step is not None:
            hooks.on_step(report)
        stopping = hooks.should_stop()
        if step % plan.checkpoint_every == 0 or step == plan.steps or stopping:
            save_lora_checkpoint(CheckpointPaths.of(run.folder, "embedding"), models={"embedding": training.learned},
                                 optimizer=training.optimizer, lr_scheduler=training.lr_scheduler,
                                 generator=generator, step=step)
            plot_losses(run.folder / "log.jsonl", run.folder / "loss.png")
            write_status(run.folder, state="stopped" if stopping else "running", step=step, steps=plan.steps)
        if stopping:
            raise JobCancelled(f"training stopped at step {step} of {plan.steps}; the checkpoint is saved",
                               hint=f"continue with the same command and --resume (run folder {run.folder})")
        if plan.sample_every and step % plan.sample_every == 0 and step < plan.steps:
            _samples(training, run, step, hooks)
    return step


def _samples(training: _Training, run: EmbeddingRun, step: int, hooks: Hooks) -> None:
    if not training.plan.sample_prompts:
        return
    pictures = draw_embedding_samples(training.objective.pipe, training.objective.components, training.plan,
                                      step=step, device=str(training.accelerator.device),
                                      scheduler=hooks.sample_scheduler)
    save_sample_grid(pictures, run.folder / "samples", step)
    if hooks.on_samples is not None:
        hooks.on_samples(pictures)
