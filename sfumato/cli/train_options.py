"""Options every `sfumato train` command shares (LoRA, DreamBooth, textual inversion), declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

SamplePromptOption = Annotated[Optional[list[str]], typer.Option(help="Sample prompt (repeatable).")]
SampleSeedOption = Annotated[Optional[list[int]], typer.Option(help="Sample seed (repeatable; default 0).")]
SampleEveryOption = Annotated[int, typer.Option(min=0, help="Samples every N steps (0: at the end only).")]
SampleStepsOption = Annotated[int, typer.Option(min=1, help="Sampling steps per sample picture.")]
CheckpointEveryOption = Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")]
MinImageSizeOption = Annotated[int, typer.Option(min=1, help="Smallest allowed picture side.")]
CpuOption = Annotated[bool, typer.Option("--cpu", help="Train on the CPU even where a GPU is present.")]
