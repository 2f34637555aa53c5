"""`sfumato train ...`: train the embedded model (`base`), package a run (`package`), score a model (`eval`).

The lead's `sfumato/cli` mounts `train_app` as `sfumato train`. torch is imported inside the commands, so
`sfumato --help` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

train_app = typer.Typer(help="Train and evaluate sfumato's embedded model.", no_args_is_help=True)


@train_app.callback()
def train_group() -> None:
    """Train and evaluate sfumato's embedded model."""


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), console=console)


@train_app.command("base", no_args_is_help=True)
def base_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (`sfumato data build-emoji` OUT/base).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: checkpoints, samples, log, model file.")],
    steps: Annotated[int, typer.Option(min=1, help="UNet training steps.")] = 9_500,
    cooldown: Annotated[int, typer.Option(min=0, help="Last UNet steps (at most all), over which the learning "
                                                      "rate falls linearly to 0 (0: constant to the end).")]
    = 2_000,
    vae_steps: Annotated[int, typer.Option(min=1, help="VAE training steps (phase 1).")] = 1_500,
    batch: Annotated[int, typer.Option(min=1, help="Pictures per step.")] = 32,
    lr: Annotated[float, typer.Option(min=0.0, help="UNet learning rate (AdamW, after warm-up).")] = 3e-4,
    vae_crop: Annotated[int, typer.Option(min=0, help="VAE phase trains on random crops this size (0: whole).")]
    = 32,
    seed: Annotated[int, typer.Option(help="Seed for weights, batches and noise.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    sample_every: Annotated[int, typer.Option(min=0, help="Sample grid every N steps (0: at the end).")] = 1_000,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 1_000,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, mps.")] = "cpu",
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast for the forward passes.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Train on the first N pictures only.")] = None,
    tiny: Annotated[bool, typer.Option("--tiny", hidden=True, help="Toy model size (tests).")] = False,
) -> None:
    """Train the embedded text-to-image model: a VAE, then a MiniLM-conditioned UNet."""
    from sfumato.train.base.trainer import BaseTrainingPlan, train_base  # torch: only when training
    from sfumato.train.base.tracking import tracked_run

    plan = BaseTrainingPlan(
        dataset=dataset, out=out, steps=steps, cooldown=cooldown, vae_steps=vae_steps, batch=batch, lr=lr,
        vae_crop=vae_crop or None,
        seed=seed, resume=resume,
        sample_every=sample_every, checkpoint_every=checkpoint_every, device=device, bf16=bf16, limit=limit,
        preset="tiny" if tiny else "base",
    )
    console = Console(stderr=True, highlight=False)
    # status.json (pid, state) lets `sfumato train status` tell a running base run from a dead one.
    with _progress(console) as progress, tracked_run(out, steps) as touch:
        tasks: dict[str, Any] = {}

        def on_status(message: str) -> None:
            touch()
            console.print(message)

        def on_step(report: Any) -> None:
            touch()
            if report.phase not in tasks:
                tasks[report.phase] = progress.add_task(report.phase, total=report.steps, loss="-",
                                                        completed=report.resumed_from)
            progress.update(tasks[report.phase], completed=report.step, loss=f"{report.loss:.4f}")

        model = train_base(plan, on_step=on_step, on_status=on_status)
    Console(highlight=False).print(f"model: {model}")


@train_app.command("package", no_args_is_help=True)
def package_command(
    run: Annotated[Path, typer.Argument(help="A `sfumato train base` run folder.")],
    out: Annotated[Path | None, typer.Option(help="Model file to write (default RUN/sfumato-emoji.safetensors).")]
    = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Store the weights in fp16 (half the size; how the "
                                       "shipped model is stored).")] = False,
) -> None:
    """Write a run's latest EMA weights as the embedded-model file the library loads."""
    from sfumato.train.base.package import package_run

    Console(highlight=False).print(f"model: {package_run(run, out, fp16=fp16)}")


@train_app.command("eval", no_args_is_help=True)
def eval_command(
    model: Annotated[Path, typer.Argument(help="An embedded-model file (sfumato-emoji.safetensors).")],
    dataset: Annotated[list[Path], typer.Option(help="The real pictures the judge classifier learns from "
                                                 "(repeat to join several datasets).")],
    out: Annotated[Path, typer.Option(help="Folder for the classifier, the pictures and report.json.")],
    seeds: Annotated[int, typer.Option(min=2, help="Seeds per prompt (diversity needs 2 or more).")] = 4,
    steps: Annotated[int, typer.Option(min=1, help="Sampling steps.")] = 12,
    classifier_steps: Annotated[int, typer.Option(min=1, help="Classifier training steps.")] = 3_000,
    limit: Annotated[int | None, typer.Option(min=1, help="First N pictures only (quick checks).")] = None,
    paraphrases: Annotated[Path | None, typer.Option(help="Prompt/label JSON to score (default: the shipped "
                                                      "paraphrases of base-set concepts).")] = None,
    ceiling_style: Annotated[str, typer.Option(help="Style left out of a second judge, which then scores it: the "
                                                    "ceiling of the concept scores ('' to skip).")] = "noto",
) -> None:
    """Score a model: concept top-1/top-5 on paraphrased prompts, style accuracy, diversity across seeds."""
    import json

    from sfumato.train.evaluate import EvalPlan, evaluate

    extra = {"paraphrases": paraphrases} if paraphrases is not None else {}
    report = evaluate(EvalPlan(model=model, dataset=tuple(dataset), out=out, seeds=seeds, steps=steps,
                               classifier_steps=classifier_steps, limit=limit,
                               ceiling_style=ceiling_style or None, **extra))
    Console(highlight=False).print(json.dumps(report.summary(), indent=1))
