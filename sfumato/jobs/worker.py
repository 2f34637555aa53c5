"""Worker: one thread per device taking jobs off the queue in turn, running them batch by batch, saving each picture.

Saving is idempotent per (job, position): a retried job skips batches already saved and adopts a picture
whose save was cut short (the catalog indexed its file at start-up), so a crash never writes a picture twice.
"""

from __future__ import annotations

import base64
import io
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Final, Protocol

from PIL import Image

from sfumato.catalog import Catalog, SearchFilters
from sfumato.engine.progress import CancelToken, ProgressEvent, ProgressFn
from sfumato.errors import JobCancelled, SfumatoError
from sfumato.jobs.queue import REASON_SKIPPED, JobQueue, LiveJob
from sfumato.jobs.records import Job, JobProgress, JobState
from sfumato.picture import Picture
from sfumato.picture_file import write_picture
from sfumato.recipe import Recipe

log = logging.getLogger(__name__)
_IDLE_POLL_S = 1.0
# A preview decodes the VAE once: every 4th model call keeps that under ~10% of sampling on SD-size models.
PREVIEW_EVERY: Final = 4


class RunFn(Protocol):
    def __call__(self, recipe: Recipe, *, cancel: CancelToken | None = None,
                 on_progress: ProgressFn | None = None, preview_every: int = 0) -> list[Picture]: ...


class Worker:
    """Runs jobs from `queue` on one device through `run` (the engine, reached only from this thread)."""

    def __init__(self, queue: JobQueue, *, run: RunFn, catalog: Catalog, name: str = "sfumato-worker") -> None:
        self.queue = queue
        self.run = run
        self.catalog = catalog
        self.name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current step; a job cut short goes back to the queue for the next start."""
        self._stopping.set()
        current = self.queue.current()
        if current is not None:
            self.queue.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set() and not self.queue.is_closed:
            claimed = self.queue.claim(timeout=_IDLE_POLL_S)
            if claimed is not None and self._stopping.is_set():  # claimed as stop() was called: leave it
                self.queue.requeue(claimed[0].id, note="the server shut down before it ran")
            elif claimed is not None:
                self.run_job(*claimed)

    def run_job(self, job: Job, live: LiveJob) -> None:
        """Run one claimed job to its end state; never raises."""
        try:
            skipped = self._run_batches(job, live)
        except JobCancelled as error:
            if self._stopping.is_set():
                self.queue.requeue(job.id, note="the server shut down while it ran; it runs again at the next start")
                return
            self.queue.finish(job.id, JobState.CANCELLED, error=live.stop_reason or error.message)
        except SfumatoError as error:
            self.queue.finish(job.id, JobState.FAILED, error=str(error))
        except Exception as error:  # a bug or a library error: the job fails saying what, the worker lives on
            log.exception("job %s failed", job.id)
            self.queue.finish(job.id, JobState.FAILED, error=f"{type(error).__name__}: {error}")
        else:
            self.queue.finish(job.id, JobState.DONE, skipped=skipped)

    def _run_batches(self, job: Job, live: LiveJob) -> int:
        recipe, size = job.recipe, job.recipe.batch_size
        saved = self._adopt_half_saved(job) | self.queue.store.saved(job.id)
        progress = _ProgressTracker(self.queue, job)
        skipped = 0
        for batch in range(recipe.batch_count):
            positions = range(batch * size, (batch + 1) * size)
            if all(position in saved for position in positions):
                continue  # saved by an earlier attempt
            token = self.queue.new_batch_token(live)
            token.raise_if_cancelled()
            # A one-batch recipe starting at this batch's seed makes the very same pictures (seed + i each).
            part = recipe.starting_at(batch * size).replace(batch_count=1)
            try:
                pictures = self.run(part, cancel=token, on_progress=progress.for_batch(batch),
                                    preview_every=PREVIEW_EVERY)
            except JobCancelled:
                if live.stop_reason is None and token.reason == REASON_SKIPPED:
                    skipped += 1
                    continue
                raise
            for position, picture in zip(positions, pictures, strict=True):
                if position not in saved:
                    self._keep(job, live, position, picture)
        return skipped

    def _keep(self, job: Job, live: LiveJob, position: int, picture: Picture) -> None:
        if not job.save:
            self.queue.keep_image(live, position, encode_png(picture))
            return
        self.queue.begin_saving(job.id, position)
        record = self.catalog.add(picture, collection=job.collection)
        self.queue.saved(job.id, position, record.id)

    def _adopt_half_saved(self, job: Job) -> dict[int, str]:
        """Pictures whose save began in a process that died: find each in the catalog by seed and time."""
        adopted: dict[int, str] = {}
        for position, since in self.queue.store.half_saved(job.id).items():
            seed = job.recipe.image_seed(position)
            # The catalog names files in whole seconds, so look from a second before the save began.
            filters = SearchFilters(seed=seed, since=since - timedelta(seconds=1), until=since + timedelta(minutes=5))
            for record in self.catalog.search(None, filters, limit=20):
                same = record.recipe.prompt == job.recipe.prompt and record.recipe.model == job.recipe.model \
                    and record.recipe.subseed == job.recipe.image_subseed(position)
                if same and not self.queue.store.is_claimed(record.id):
                    self.queue.saved(job.id, position, record.id)
                    adopted[position] = record.id
                    break
        return adopted


class _ProgressTracker:
    """Turns the engine's per-batch step events into whole-job progress with an ETA."""

    def __init__(self, queue: JobQueue, job: Job) -> None:
        self.queue, self.job = queue, job
        self.first_step_at: float | None = None
        self.steps_timed = 0
        self.last_preview: str | None = None  # kept between previews so every report shows the latest

    def for_batch(self, batch: int) -> Callable[[ProgressEvent], None]:
        recipe = self.job.recipe

        def on_progress(event: ProgressEvent) -> None:
            # event.steps, not recipe.steps: img2img and the hires fix run other step counts (engine/generate.py).
            total = recipe.batch_count * event.steps
            done = batch * event.steps + event.step
            eta = None
            if event.stage == "sample":
                if self.first_step_at is None:
                    self.first_step_at, self.steps_timed = time.monotonic(), 0
                else:
                    self.steps_timed += 1
                elapsed = time.monotonic() - self.first_step_at
                if self.steps_timed:
                    eta = elapsed / self.steps_timed * (total - done)
            if event.preview is not None:
                self.last_preview = _data_url(event.preview)
            self.queue.report(self.job.id, JobProgress(
                stage=event.stage, batch=batch, batches=recipe.batch_count, step=event.step, steps=event.steps,
                fraction=min(done / total, 1.0) if total else 0.0, eta_s=eta,
                preview=self.last_preview,
            ))

        return on_progress


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def encode_png(picture: Picture) -> bytes:
    """The PNG a library file would hold (infotext and JSON chunks), without keeping a file."""
    with tempfile.TemporaryDirectory(prefix="sfumato-png-") as folder:
        path = write_picture(Path(folder) / "picture.png", picture, sidecar=False)
        return path.read_bytes()


__all__ = ["RunFn", "Worker", "encode_png"]
