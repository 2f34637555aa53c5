"""`sfumato train lora` and `sfumato train status`: LoRA training from a dataset folder, run status.

The plan is validated here, before any model loads; torch loads inside the command only. Ctrl+C stops the
run after its next step and saves a checkpoint (a second Ctrl+C aborts at once). The base-model lookup, the
progress run and the sample saver here serve `train dreambooth` and `train embedding` too.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sfumato.cli.context import CliContext, err_console, out_console
from sfumato.cli.train_options import (
    CheckpointEveryOption,
    CpuOption,
    MinImageSizeOption,
    SampleEveryOption,
    SamplePromptOption,
    SampleSeedOption,
    SampleStepsOption,
)
from sfumato.errors import BadInput
from sfumato.models.families import FAMILIES
from sfumato.models.library import ModelKind
from sfumato.train.dataset.check import check_dataset
from sfumato.train.lora.plan import TrainingPlan, make_plan
from sfumato.train.lora.run import runs_root
from sfumato.train.runs import training_runs


@contextmanager
def stop_on_sigint() -> Iterator[threading.Event]:
    """The first SIGINT sets the event (the trainer stops after saving); the second raises KeyboardInterrupt."""
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} step/s"),
                    TimeRemainingColumn(), console=console)


def build_plan(context: CliContext, dataset: Path, fields: dict[str, Any]) -> tuple[TrainingPlan, Any]:
    """The validated plan (family defaults filled in) and the base model's library entry."""
    entry, base_hash = base_model(context, fields.pop("base"))
    assert entry.family is not None  # base_model refuses a model without one
    spec = FAMILIES[entry.family]
    rank = fields["rank"]
    given = {k: v for k, v in fields.items() if v is not None}  # None: the family's or the plan's default
    plan = make_plan({
        "base": entry.name, "base_hash": base_hash,
        "family": entry.family.value, "dataset": dataset.resolve(), "resolution": spec.native_size,
        "alpha": float(rank), "unet_target_modules": spec.lora_unet_targets,
        "text_target_modules": spec.lora_text_targets, **given,
    })
    return plan, entry


def base_model(context: CliContext, base: str | None) -> tuple[Any, str | None]:
    """The base model's library entry (the default model when `base` is None) and its sha256, for every trainer;
    raises BadInput naming --base when its family is unknown."""
    library = context.studio.library
    entry = library.find(base or context.settings.default_model, with_hashes=False)
    if entry.family is None:
        raise BadInput(f"--base: {entry.name!r} has no known model family ({entry.evidence})")
    hashed = library.hashed(entry) if entry.path is not None else entry
    return entry, hashed.hashes.sha256 if hashed.hashes else None


def sample_saver(context: CliContext, plan: Any, sampler: str, *, adapter: Any, collection: str,
                 model: str | None = None) -> Any:
    """Samples go to the catalog in `collection`, each recipe naming the adapter (LoRA or embedding) drawn with;
    a full fine-tune's name the model being made (`model`) and no adapter."""
    from sfumato.picture import BatchPosition, Picture
    from sfumato.recipe import recipe_from

    def save(pictures: list[Any]) -> None:
        for sample in pictures:
            recipe = recipe_from({
                "model": model or plan.base, "prompt": sample.prompt, "seed": sample.seed, "steps": plan.sample_steps,
                "guidance_scale": plan.sample_guidance, "width": plan.resolution, "height": plan.resolution,
                "sampler": sampler, "device": sample.device, "adapters": [adapter] if adapter else [],
            })
            context.studio.save(Picture(sample.image, recipe, BatchPosition(sample.seed, 1, 0)), collection=collection)

    return save


def run_with_progress(context: CliContext, plan: Any, entry: Any, *, label: str, adapter: Any, collection: str,
                      train: Any, model: str | None = None) -> Any:
    """`train(pipe, hooks)` on the base model with a progress bar, samples saved, Ctrl+C stopping after a step."""
    from sfumato.engine.samplers import make_scheduler  # torch: only when training
    from sfumato.train.lora.base_model import load_base
    from sfumato.train.lora.trainer import Hooks

    sampler = FAMILIES[entry.family].default_sampler
    console = err_console()
    with stop_on_sigint() as stop, progress_bar(console) as progress:
        task = progress.add_task(label, total=plan.steps, loss="-", rate="-")

        def on_step(report: Any) -> None:
            rate = (report.step - report.resumed_from) / max(report.seconds, 1e-9)
            progress.update(task, completed=report.step, loss=f"{report.loss:.4f}", rate=f"{rate:.2f}")

        hooks = Hooks(on_step=on_step, should_stop=stop.is_set, on_status=console.print,
                      on_samples=sample_saver(context, plan, sampler, adapter=adapter, collection=collection,
                                              model=model),
                      sample_scheduler=lambda config: make_scheduler(sampler, "Automatic", dict(config)))
        return train(load_base(entry), hooks)


def run_training(context: CliContext, plan: TrainingPlan, entry: Any, *, resume: bool, cpu: bool) -> Any:
    from sfumato.recipe import AdapterRef
    from sfumato.train.lora.trainer import LoraRun, train_lora

    settings = context.settings
    full = plan.output == "full"
    output = model_output(context, plan) if full else settings.models_root / "Lora" / f"{plan.name}.safetensors"
    run = LoraRun(runs_root(settings.home) / plan.name, output, settings.cache_dir / "training", base_file=entry.path)
    return run_with_progress(
        context, plan, entry, label=plan.name, adapter=None if full else AdapterRef(name=plan.name, weight=1.0),
        collection=f"{plan.output}-{plan.name}", model=plan.name if full else None,
        train=lambda pipe, hooks: train_lora(plan, pipe=pipe, run=run, resume=resume, hooks=hooks, cpu=cpu))


def model_output(context: CliContext, plan: TrainingPlan) -> Path:
    """Where a full fine-tune's model goes (<home>/models/Stable-diffusion/NAME.safetensors), refusing a name
    another model has unless this run made it (a resumed or rerun run folder)."""
    library = context.studio.library
    dest = library.folders(ModelKind.CHECKPOINT)[0] / f"{plan.name}.safetensors"
    ours = (runs_root(context.settings.home) / plan.name / "plan.json").is_file()
    taken = dest.exists() or any(e.name == plan.name for e in library.scan(ModelKind.CHECKPOINT))
    if taken and not ours:
        raise BadInput(f"--name: a model named {plan.name!r} already exists and was not made by this run "
                       f"({dest.parent}); choose another name")
    return dest


def lora_command(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Dataset folder: images + .txt captions, or kohya N_class folders.")],
    name: Annotated[str, typer.Option(help="LoRA name: <home>/models/Lora/NAME.safetensors, <lora:NAME:0.8>.")],
    base: Annotated[Optional[str], typer.Option(help="Base model (default: the library's default model).")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 1000,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank (kohya's network_dim).")] = 16,
    alpha: Annotated[Optional[float], typer.Option(help="LoRA alpha (default: the rank, scale 1).")] = None,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-4,
    batch: Annotated[int, typer.Option(min=1, help="Pictures per step.")] = 1,
    resolution: Annotated[Optional[int], typer.Option(help="Training size (default: the model's native size).")]
    = None,
    text_encoder: Annotated[bool, typer.Option("--text-encoder", help="Train text-encoder LoRA too.")] = False,
    lr_scheduler: Annotated[str, typer.Option(help="constant, constant_with_warmup, linear, cosine, ...")]
    = "constant",
    warmup: Annotated[int, typer.Option(min=0, help="Learning-rate warm-up steps.")] = 0,
    optimizer: Annotated[str, typer.Option(help="adamw, or adamw8bit (bitsandbytes on CUDA only).")] = "adamw",
    mixed_precision: Annotated[str, typer.Option(help="no, bf16, fp16 (CUDA).")] = "no",
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing")] = False,
    accumulate: Annotated[int, typer.Option(min=1, help="Gradient accumulation steps.")] = 1,
    min_snr_gamma: Annotated[float, typer.Option(min=0, help="Min-SNR gamma; 0 turns it off.")] = 5.0,
    noise_offset: Annotated[float, typer.Option(min=0, help="Noise offset (0.05-0.1 for darker darks).")] = 0.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed for LoRA init, batches, noise.")] = 0,
    shuffle_tags: Annotated[bool, typer.Option("--shuffle-tags", help="Shuffle comma-separated tags.")] = False,
    keep_tokens: Annotated[int, typer.Option(min=0, help="Leading tags shuffling keeps in place.")] = 0,
    caption_dropout: Annotated[float, typer.Option(min=0, max=1, help="Share of empty captions.")] = 0.0,
    sample_prompt: SamplePromptOption = None,
    sample_seed: SampleSeedOption = None,
    sample_every: SampleEveryOption = 0,
    sample_steps: SampleStepsOption = 20,
    checkpoint_every: CheckpointEveryOption = 500,
    min_image_size: MinImageSizeOption = 64,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run called NAME.")] = False,
    cpu: CpuOption = False,
) -> None:
    """Train a LoRA on a dataset folder; the result lands in the library's Lora folder."""
    context: CliContext = ctx.obj
    fields: dict[str, Any] = {
        "name": name, "base": base, "steps": steps, "rank": rank, "alpha": alpha, "learning_rate": lr,
        "batch": batch, "resolution": resolution, "train_text_encoder": text_encoder, "lr_scheduler": lr_scheduler,
        "lr_warmup_steps": warmup, "optimizer": optimizer, "mixed_precision": mixed_precision,
        "gradient_checkpointing": gradient_checkpointing, "gradient_accumulation_steps": accumulate,
        "noise_offset": noise_offset, "seed": seed,
        "shuffle_tags": shuffle_tags, "keep_tokens": keep_tokens, "caption_dropout": caption_dropout,
        "sample_prompts": tuple(sample_prompt or ()), "sample_seeds": tuple(sample_seed or (0,)),
        "sample_every": sample_every, "sample_steps": sample_steps, "checkpoint_every": checkpoint_every, "min_image_size": min_image_size,
    }
    plan, entry = build_plan(context, dataset, fields)
    # None cannot mean "off" in `fields` (there it means "the default"), so gamma 0 is applied afterwards.
    plan = make_plan({**plan.to_json(), "min_snr_gamma": min_snr_gamma or None})
    # The dataset check runs before any model loads: a broken dataset costs seconds, not a model load.
    check_dataset(plan.dataset, min_size=plan.min_image_size).raise_for_errors()
    result = run_training(context, plan, entry, resume=resume, cpu=cpu)
    out_console().print(f"lora: {result.output}  (use <lora:{plan.name}:0.8>)")


def status_command(
    ctx: typer.Context,
    run: Annotated[Optional[str], typer.Argument(help="One run's name, or a run folder such as a `train base "
                                                      "--out` (default: every run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show trainings (LoRA, DreamBooth, embedding, base), running and finished, from their run folders."""
    context: CliContext = ctx.obj
    runs = training_runs(context.settings.home, run)
    console = out_console()
    if as_json:
        console.print_json(json.dumps([r.to_json() for r in runs]))
        return
    if not runs:
        console.print(f"no training runs in {runs_root(context.settings.home)}")
    for r in runs:
        loss = f"{r.last_loss:.4f}" if r.last_loss is not None else "-"
        eta = f", about {r.eta_s:.0f} s left" if r.eta_s is not None else ""
        phase = f"{r.phase} " if r.phase else ""  # base runs: the vae or unet phase's steps
        console.print(f"{r.name}: {r.state}, {phase}step {r.step}/{r.steps}, loss {loss}{eta} ({r.kind})"
                      + (f", {r.output}" if r.output else ""))
