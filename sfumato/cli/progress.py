"""Progress bars on stderr for long CLI work (sampling steps, hashing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sfumato.cli.context import err_console
from sfumato.engine.progress import ProgressEvent, ProgressFn
from sfumato.recipe import Recipe


@contextmanager
def step_progress(recipe: Recipe) -> Iterator[ProgressFn]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    total = recipe.steps * recipe.batch_count
    with Progress(*columns, console=err_console(), transient=True) as progress:
        task = progress.add_task("loading model", total=total)

        def on_progress(event: ProgressEvent) -> None:
            label = {"load": "loading model", "sample": "sampling", "decode": "decoding"}[event.stage]
            # The engine's step count, not the recipe's: img2img and the hires fix run other counts.
            progress.update(task, description=label, completed=event.batch * event.steps + event.step,
                            total=max(event.steps * event.batches, 1))

        yield on_progress


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                  console=err_console(), transient=True) as progress:
        task = progress.add_task(description, total=None)

        def on_bytes(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_bytes
