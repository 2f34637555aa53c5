"""One training phase (the VAE's or the UNet's): AdamW with warm-up, EMA, checkpoints, samples, a step log.

Every random draw (batch, noise, timestep, caption dropout) comes from one seeded CPU torch.Generator whose
state is checkpointed, so a resumed phase continues exactly where it stopped.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from sfumato.train.base.checkpoint import CheckpointPaths, load_checkpoint, save_checkpoint
from sfumato.train.base.reporting import append_log


@dataclass(frozen=True)
class PhaseSpec:
    name: str  # "vae" or "unet"
    steps: int
    lr: float
    seed: int
    warmup: int = 200  # steps of linear learning-rate warm-up
    cooldown: int = 0  # final steps over which the learning rate falls linearly towards 0
    ema_decay: float = 0.999
    checkpoint_every: int = 1000
    sample_every: int = 0  # 0: no samples until the end
    grad_clip: float = 1.0


@dataclass(frozen=True)
class StepReport:
    phase: str
    step: int
    steps: int
    loss: float
    lr: float
    seconds: float  # since the phase (or its resumed part) started
    resumed_from: int


LossFn = Callable[[torch.nn.Module, torch.Generator], torch.Tensor]
SampleFn = Callable[[torch.nn.Module, int], None]  # (EMA model, step)
StepFn = Callable[[StepReport], None]


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for target, source in zip(ema.parameters(), model.parameters(), strict=True):
            target.lerp_(source, 1.0 - decay)
        for buffer, value in zip(ema.buffers(), model.buffers(), strict=True):
            buffer.copy_(value)


def learning_rate(spec: PhaseSpec, step: int) -> float:
    """The rate for 0-based `step`: linear warm-up, constant, then a linear cool-down to the last step.
    Warm-up-stable-decay: the constant part can be extended on resume, and the cool-down sharpens the end."""
    warm = min(1.0, (step + 1) / max(1, spec.warmup))
    cool = min(1.0, (spec.steps - step) / spec.cooldown) if spec.cooldown else 1.0
    return spec.lr * warm * cool


def run_phase(spec: PhaseSpec, *, model: torch.nn.Module, loss_fn: LossFn, run: Path, resume: bool,
              on_step: StepFn | None = None, on_sample: SampleFn | None = None) -> torch.nn.Module:
    """Train `model` for `spec.steps` steps (or what is left of them); returns the EMA copy in eval mode."""
    model.train()
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(spec.seed)
    paths = CheckpointPaths.of(run, spec.name)
    step = 0
    if resume and paths.exists():
        step = int(load_checkpoint(paths, model=model, ema=ema, optimizer=optimizer, generator=generator)["step"])
    started, resumed_from = time.perf_counter(), step
    while step < spec.steps:
        lr = learning_rate(spec, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = loss_fn(model, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        # EMA decay ramps up (1 + n) / (10 + n) so early samples are not dominated by the random init.
        _update_ema(ema, model, min(spec.ema_decay, (1 + step) / (10 + step)))
        step += 1
        report = StepReport(spec.name, step, spec.steps, float(loss.detach()), lr,
                            time.perf_counter() - started, resumed_from)
        append_log(run, {"phase": spec.name, "step": step, "loss": report.loss, "lr": lr,
                   "seconds": round(report.seconds, 3)})
        if on_step is not None:
            on_step(report)
        if step % spec.checkpoint_every == 0 or step == spec.steps:
            save_checkpoint(paths, model=model, ema=ema, optimizer=optimizer, generator=generator,
                            state={"phase": spec.name, "step": step, "steps": spec.steps})
        if on_sample is not None and spec.sample_every and step % spec.sample_every == 0 and step < spec.steps:
            on_sample(ema.eval(), step)
    return ema.eval()
