"""Progress events and the cancel token passed down a job's call chain (torch-free, so edges can import it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from sfumato.errors import JobCancelled


@dataclass(frozen=True)
class ProgressEvent:
    """Read-only view of where a job is; observers cannot change the sampling."""

    stage: Literal["load", "sample", "decode"]
    batch: int  # 0-based batch index
    batches: int
    step: int  # steps done in this batch
    steps: int
    preview: Image.Image | None = None  # the current estimate of the first picture, when previews were asked for


ProgressFn = Callable[[ProgressEvent], None]


class CancelToken:
    """Set by whoever wants the job to stop; checked by the engine between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def is_cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled(f"generation stopped: {self.reason}")
