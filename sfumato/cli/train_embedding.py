"""`sfumato train embedding`: textual inversion, a new token learnt from a dataset folder; the A1111-format file
lands in <home>/embeddings, so the token works in prompts at once (and in A1111 / ComfyUI, whose format it is).

The plan is validated and the family checked here, before any model loads; torch loads inside the command only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sfumato.cli.context import CliContext, err_console, out_console
from sfumato.cli.train_lora import base_model, run_with_progress
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
from sfumato.train.dataset.check import check_dataset
from sfumato.train.embedding.plan import EmbeddingPlan, check_family, make_embedding_plan
from sfumato.train.embedding.templates import DEFAULT_TEMPLATE, TEMPLATES, fill, template_lines
from sfumato.train.lora.run import runs_root


def build_embedding_plan(context: CliContext, dataset: Path, template: str, fields: dict[str, Any]
                         ) -> tuple[EmbeddingPlan, Any]:
    """The validated plan (the base model's family, hash and native size filled in) and the base's library entry."""
    entry, base_hash = base_model(context, fields.pop("base"))
    check_family(entry.family, entry.name)
    lines = template_lines(template)
    given = {k: v for k, v in fields.items() if v is not None}  # None: the family's or the plan's default
    if not given.get("sample_prompts"):  # A1111 previews with a training prompt: the first template line
        given["sample_prompts"] = (fill(lines[0], token=fields["token"], filewords=""),)
    plan = make_embedding_plan({
        "base": entry.name, "base_hash": base_hash,
        "family": entry.family.value, "dataset": dataset.resolve(), "resolution": FAMILIES[entry.family].native_size,
        "template_lines": lines, **given,
    })
    return plan, entry


def _run(context: CliContext, plan: EmbeddingPlan, entry: Any, output: Path, *, resume: bool, cpu: bool) -> Any:
    from sfumato.recipe import AdapterRef
    from sfumato.train.embedding.trainer import EmbeddingRun, train_embedding

    settings = context.settings
    run = EmbeddingRun(runs_root(settings.home) / plan.name, output, settings.cache_dir / "training")
    # Samples go to the catalog, collection `embedding-TOKEN` (the run's name), each recipe naming the embedding.
    return run_with_progress(
        context, plan, entry, label=plan.token, adapter=AdapterRef(name=plan.token, kind="embedding"),
        collection=plan.name,
        train=lambda pipe, hooks: train_embedding(plan, pipe=pipe, run=run, resume=resume, hooks=hooks, cpu=cpu))


def embedding_command(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Dataset folder: images (+ optional .txt captions), kohya folders.")],
    token: Annotated[str, typer.Option(help="The new word: <home>/embeddings/TOKEN.safetensors, used as TOKEN.")],
    base: Annotated[Optional[str], typer.Option(help="Base model (default: the library's default model).")] = None,
    vectors: Annotated[int, typer.Option(min=1, max=75, help="Vectors per token (positions it takes).")] = 1,
    init_word: Annotated[str, typer.Option(help="Start from this word's embeddings ('' = zeros).")] = "*",
    template: Annotated[str, typer.Option(help=f"Caption template: {', '.join(TEMPLATES)}, or a file of lines "
                                               "with [name] and [filewords].")] = DEFAULT_TEMPLATE,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 1000,
    lr: Annotated[float, typer.Option(help="Learning rate (A1111's default 0.005).")] = 5e-3,
    batch: Annotated[int, typer.Option(min=1, help="Pictures per step.")] = 1,
    resolution: Annotated[Optional[int], typer.Option(help="Training size (default: the model's native size).")]
    = None,
    lr_scheduler: Annotated[str, typer.Option(help="constant, constant_with_warmup, linear, cosine, ...")]
    = "constant",
    warmup: Annotated[int, typer.Option(min=0, help="Learning-rate warm-up steps.")] = 0,
    mixed_precision: Annotated[str, typer.Option(help="no, bf16, fp16 (CUDA).")] = "no",
    seed: Annotated[int, typer.Option(min=0, help="Seed for batches, templates and noise.")] = 0,
    shuffle_tags: Annotated[bool, typer.Option("--shuffle-tags", help="Shuffle the caption's tags.")] = False,
    keep_tokens: Annotated[int, typer.Option(min=0, help="Leading tags shuffling keeps in place.")] = 0,
    caption_dropout: Annotated[float, typer.Option(min=0, max=1, help="Share of empty [filewords].")] = 0.0,
    sample_prompt: SamplePromptOption = None,
    sample_seed: SampleSeedOption = None,
    sample_every: SampleEveryOption = 0,
    sample_steps: SampleStepsOption = 20,
    checkpoint_every: CheckpointEveryOption = 500,
    min_image_size: MinImageSizeOption = 64,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run of this token.")] = False,
    cpu: CpuOption = False,
) -> None:
    """Textual inversion: learn TOKEN's vectors from a dataset; the embedding lands in <home>/embeddings."""
    context: CliContext = ctx.obj
    fields: dict[str, Any] = {
        "token": token, "base": base, "vectors": vectors, "init_word": init_word, "steps": steps,
        "learning_rate": lr, "batch": batch, "resolution": resolution, "lr_scheduler": lr_scheduler,
        "lr_warmup_steps": warmup, "mixed_precision": mixed_precision, "seed": seed, "shuffle_tags": shuffle_tags,
        "keep_tokens": keep_tokens, "caption_dropout": caption_dropout, "sample_prompts": tuple(sample_prompt or ()),
        "sample_seeds": tuple(sample_seed or (0,)), "sample_every": sample_every, "sample_steps": sample_steps,
        "checkpoint_every": checkpoint_every, "min_image_size": min_image_size,
    }
    plan, entry = build_embedding_plan(context, dataset, template, fields)
    output = context.settings.home / "embeddings" / f"{plan.token}.safetensors"
    if output.exists() and not (runs_root(context.settings.home) / plan.name).is_dir():
        raise BadInput(f"--token: {str(output)!r} already exists and was not made by a run named {plan.name!r}",
                       hint="choose another --token, or move that file away")
    check_dataset(plan.dataset, min_size=plan.min_image_size, captions_required=False).raise_for_errors()
    result = _run(context, plan, entry, output, resume=resume, cpu=cpu)
    out_console().print(f"embedding: {result.output}  (write {plan.token} in a prompt)")

