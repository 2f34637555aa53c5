"""`sfumato train dreambooth`: teach a subject as a rare token (DreamBooth, Ruiz et al. 2023) with prior
preservation on class pictures the base model makes itself; the result is a LoRA like `train lora`'s, or with
`--output full` a whole fine-tuned model in the library's checkpoint folder."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Optional

import typer

from sfumato.cli.class_images import ensure_class_images
from sfumato.cli.context import CliContext, out_console
from sfumato.cli.train_lora import build_plan, model_output, run_training
from sfumato.cli.train_options import (
    CpuOption,
    MinImageSizeOption,
    SampleEveryOption,
    SampleStepsOption,
)
from sfumato.train.dataset.check import check_dataset
from sfumato.train.lora.plan import make_plan

# Default learning rate per output: diffusers' train_dreambooth_lora.py (1e-4) and train_dreambooth.py (5e-6).
DEFAULT_LR: Final = MappingProxyType({"lora": 1e-4, "full": 5e-6})


def dreambooth_command(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Pictures of the subject (captions optional).")],
    token: Annotated[str, typer.Option(help="The rare token that will name the subject, e.g. zkz.")],
    class_noun: Annotated[str, typer.Option(help="What the subject is, e.g. 'man' or 'cat face'.")],
    name: Annotated[str, typer.Option(help="LoRA name: <home>/models/Lora/NAME.safetensors (full: a model in "
                                           "<home>/models/Stable-diffusion).")],
    base: Annotated[Optional[str], typer.Option(help="Base model (default: the library's default model).")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 800,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 16,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (default 1e-4; full: 5e-6).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Subject pictures per step (as many class pictures too).")] = 1,
    resolution: Annotated[Optional[int], typer.Option(help="Training size (default: native).")] = None,
    class_images: Annotated[int, typer.Option(min=1, help="Class pictures to make (reused when there).")] = 50,
    prior_weight: Annotated[float, typer.Option(min=0, help="Weight of the prior-preservation loss.")] = 1.0,
    text_encoder: Annotated[bool, typer.Option("--text-encoder", help="Train the text encoder(s) too (LoRA "
                                                                      "layers; full: all their weights).")] = False,
    output: Annotated[str, typer.Option(help="lora: a LoRA file; full: every UNet weight trained, saved as a "
                                             "new model.")] = "lora",
    seed: Annotated[int, typer.Option(min=0, help="Seed for training and class pictures.")] = 0,
    sample_every: SampleEveryOption = 0,
    sample_steps: SampleStepsOption = 20,
    min_image_size: MinImageSizeOption = 64,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run called NAME.")] = False,
    cpu: CpuOption = False,
) -> None:
    """DreamBooth: learn a subject as TOKEN with prior preservation; output a LoRA or a fine-tuned model."""
    context: CliContext = ctx.obj
    instance_prompt, class_prompt = f"a photo of {token} {class_noun}", f"a photo of {class_noun}"
    fields: dict[str, Any] = {
        "name": name, "base": base, "steps": steps, "rank": rank, "alpha": None, "batch": batch, "output": output,
        "learning_rate": lr if lr is not None else DEFAULT_LR.get(output),
        "resolution": resolution, "train_text_encoder": text_encoder, "seed": seed, "instance_prompt": instance_prompt,
        "class_prompt": class_prompt, "prior_loss_weight": prior_weight, "sample_prompts": (instance_prompt,),
        "sample_every": sample_every, "sample_steps": sample_steps, "min_image_size": min_image_size,
        "class_data": Path("."),  # replaced below, once the class pictures exist
    }
    plan, entry = build_plan(context, dataset, fields)
    if plan.output == "full":
        model_output(context, plan)  # a taken name fails now, before any class picture is made
    check_dataset(plan.dataset, min_size=plan.min_image_size, default_caption=instance_prompt).raise_for_errors()
    folder = ensure_class_images(context.studio, base=plan.base, prompt=class_prompt, count=class_images,
                                 size=plan.resolution, seed=seed)
    plan = make_plan({**plan.to_json(), "class_data": folder.resolve()})
    result = run_training(context, plan, entry, resume=resume, cpu=cpu)
    if plan.output == "full":
        out_console().print(f"model: {result.output}  (generate with --model {plan.name} and '{instance_prompt}')")
    else:
        out_console().print(f"lora: {result.output}  (prompt with '{instance_prompt}' and <lora:{plan.name}:1>)")
