"""`sfumato train base` run state for `sfumato train status`: status.json (the LoRA runs' format, with the pid)
says "running" once the run folder holds its run.json, then finished, failed or interrupted when the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from sfumato.train.lora.run import State, write_status

MODEL_FILE: Final = "sfumato-emoji.safetensors"  # package.MODEL_FILE (package.py loads diffusers; runs.py may not)


@contextmanager
def tracked_run(out: Path, steps: int) -> Iterator[Callable[[], None]]:
    """Yields `touch`, to call on every status line and step: the first call after run.json exists writes
    "running" (the trainer refuses a non-empty new folder, so nothing may be written there before it)."""
    started = False

    def touch() -> None:
        nonlocal started
        if not started and (out / "run.json").is_file():
            write_status(out, state="running", step=0, steps=steps)
            started = True

    def end(state: State) -> None:
        if started:
            model = out / MODEL_FILE
            write_status(out, state=state, step=steps if state == "finished" else 0, steps=steps,
                         output=model if state == "finished" and model.is_file() else None)

    try:
        yield touch
    except KeyboardInterrupt:
        end("interrupted")  # Ctrl+C: --resume continues from the last checkpoint
        raise
    except BaseException:
        end("failed")
        raise
    touch()  # a resumed run that had nothing left to do
    end("finished")
