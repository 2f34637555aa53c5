"""JobQueue: submit, list, cancel, interrupt and skip jobs; the live side (progress, cancel tokens) of the store.

Rows live in SQLite (`JobStore`); what only matters while a job runs (its cancel token, progress, pictures
kept in memory for callers who asked not to save) lives here, on one `LiveJob` per running job.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: one server per home is then the user's to keep
    fcntl = None  # type: ignore[assignment]

from sfumato.engine.progress import CancelToken
from sfumato.jobs.records import MAX_ATTEMPTS, Job, JobNotFound, JobProgress, JobState, QueueBusy
from sfumato.jobs.store import JobStore, now
from sfumato.recipe import Recipe

REASON_INTERRUPTED = "interrupted"
REASON_SKIPPED = "skipped"
_KEEP_UNCLAIMED = 16  # finished unsaved jobs whose images are held for their caller


@dataclass
class LiveJob:
    """The running job's in-memory state; only its worker and the cancel/skip calls touch it."""

    token: CancelToken = field(default_factory=CancelToken)
    stop_reason: str | None = None
    progress: JobProgress | None = None
    images: dict[int, bytes] = field(default_factory=dict)  # position -> PNG, for jobs that do not save


class JobQueue:
    """The jobs of one studio. Thread-safe; the web side never waits on the device, only on this."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._changed = threading.Condition()
        self._version = 0  # bumped on every change, so watchers (SSE streams) know when to look again
        self._live: dict[str, LiveJob] = {}
        self._kept: dict[str, dict[int, bytes]] = {}  # images of finished unsaved jobs, until taken
        self._closed = False
        self._lock_file: BinaryIO | None = None

    @classmethod
    def open(cls, path: Path) -> JobQueue:
        """Open the queue at `path` (to submit or read jobs; `own` it to run them)."""
        return cls(JobStore.open(path))

    def own(self) -> None:
        """Become the one process that runs this queue's jobs, then settle the jobs a dead owner left running.

        The lock is an OS file lock, so it goes away with its process, however that process ends.
        """
        if self._lock_file is not None:
            return
        lock_file = open(self.store.path.with_suffix(".lock"), "a+b")  # noqa: SIM115 (held until close)
        if fcntl is not None:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                lock_file.close()
                raise QueueBusy(
                    f"job queue {str(self.store.path)!r}: another sfumato process is running its jobs",
                    hint="stop the other `sfumato serve` for this home, or give this one another --home",
                ) from error
        self._lock_file = lock_file
        self.recover()

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        with self._changed:
            self._closed = True
            for live in self._live.values():
                live.stop_reason = "the server is shutting down"
                live.token.cancel("the server is shutting down")
            self._changed.notify_all()
        self.store.close()

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def version(self) -> int:
        return self._version

    def recover(self) -> None:
        """Jobs marked running belong to a process that died: retry each once, or fail it saying why."""
        for job in self.store.list_jobs([JobState.RUNNING], limit=10_000):
            stopped = f"the server stopped while this job ran (attempt {job.attempts} of {MAX_ATTEMPTS})"
            if not job.save:
                self.store.update(job.id, state=JobState.FAILED, finished_at=now(),
                                  error=f"{stopped}; its pictures were to be returned, not saved, so it is not retried")
            elif job.attempts < MAX_ATTEMPTS:
                self.store.update(job.id, state=JobState.QUEUED, note=f"{stopped}; retried")
            else:
                self.store.update(job.id, state=JobState.FAILED, finished_at=now(), error=f"{stopped}; not retried")

    def submit(self, recipe: Recipe, *, priority: int = 0, requested_by: str = "api",
               collection: str = "unsorted", save: bool = True) -> Job:
        job = Job(id=secrets.token_hex(8), state=JobState.QUEUED, recipe=recipe, priority=priority,
                  requested_by=requested_by, collection=collection, save=save, created_at=now())
        self.store.insert(job)
        self._bump()
        return job

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(f"job_id: no job has this id (got {job_id!r})")
        live = self._live.get(job_id)
        return job if live is None else job.model_copy(update={"progress": live.progress})

    def list_jobs(self, states: Sequence[JobState] = (), *, limit: int = 100) -> list[Job]:
        return [self.get(job.id) if job.id in self._live else job for job in self.store.list_jobs(states, limit=limit)]

    def position(self, job_id: str) -> int | None:
        """0-based place among the queued jobs, or None when it is not waiting."""
        ids = self.store.queued_ids()
        return ids.index(job_id) if job_id in ids else None

    def current(self) -> Job | None:
        running = list(self._live)
        return self.get(running[0]) if running else None

    def cancel(self, job_id: str) -> Job:
        """Take a queued job off the queue, or stop a running one between steps."""
        job = self.get(job_id)
        if job.state is JobState.QUEUED:
            self.store.update(job_id, state=JobState.CANCELLED, finished_at=now(), error="cancelled before it ran")
            self._bump()
        elif job.state is JobState.RUNNING:
            self._stop(job_id, "cancelled", whole_job=True)
        return self.get(job_id)

    def interrupt(self) -> Job | None:
        """Stop the running job (A1111 'interrupt'); the pictures already made are kept."""
        job = self.current()
        if job is not None:
            self._stop(job.id, REASON_INTERRUPTED, whole_job=True)
        return job

    def skip(self) -> Job | None:
        """Stop the running batch and go on with the job's next one (A1111 'skip')."""
        job = self.current()
        if job is not None:
            self._stop(job.id, REASON_SKIPPED, whole_job=False)
        return job

    def _stop(self, job_id: str, reason: str, *, whole_job: bool) -> None:
        with self._changed:
            live = self._live.get(job_id)
            if live is None:
                return
            if whole_job:
                live.stop_reason = reason
            live.token.cancel(reason)
            self._changed.notify_all()

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is finished (or `timeout` seconds pass); returns it as it then is."""
        deadline = None if timeout is None else now().timestamp() + timeout
        with self._changed:
            while not (job := self.get(job_id)).state.is_final and not self._closed:
                left = None if deadline is None else deadline - now().timestamp()
                if left is not None and left <= 0:
                    break
                self._changed.wait(timeout=0.5 if left is None else min(left, 0.5))
        return job

    def wait_for_change(self, version: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._version != version or self._closed, timeout=timeout)
            return self._version

    def images(self, job_id: str) -> dict[int, bytes]:
        """PNG bytes of an unsaved job's pictures by position (taken: a second call gets nothing)."""
        with self._changed:
            return self._kept.pop(job_id, {})

    # --- the worker's side ---------------------------------------------------------------------------

    def claim(self, timeout: float) -> tuple[Job, LiveJob] | None:
        """The next job to run, marked running, or None after `timeout` seconds (or once closed)."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or bool(self.store.queued_ids()), timeout=timeout)
            if self._closed:
                return None
            job = self.store.claim_next()
            if job is None:
                return None
            live = self._live[job.id] = LiveJob()
            self._bump_locked()
            return job, live

    def new_batch_token(self, live: LiveJob) -> CancelToken:
        """A fresh token for the next batch, so a skip stops only the batch it was asked during."""
        with self._changed:
            if live.stop_reason is None:
                live.token = CancelToken()
            return live.token

    def requeue(self, job_id: str, *, note: str) -> None:
        """Put a job cut short by a shutdown back in line, not counting the attempt."""
        job = self.store.get(job_id)
        attempts = max((job.attempts if job else 1) - 1, 0)
        self.store.update(job_id, state=JobState.QUEUED, attempts=attempts, note=note)
        with self._changed:
            self._live.pop(job_id, None)
            self._bump_locked()

    def begin_saving(self, job_id: str, position: int) -> None:
        self.store.begin_saving(job_id, position)

    def saved(self, job_id: str, position: int, picture_id: str) -> None:
        self.store.finish_saving(job_id, position, picture_id)
        self._bump()

    def keep_image(self, live: LiveJob, position: int, png: bytes) -> None:
        with self._changed:
            live.images[position] = png

    def report(self, job_id: str, progress: JobProgress) -> None:
        with self._changed:
            live = self._live.get(job_id)
            if live is not None:
                live.progress = progress
                self._bump_locked()

    def finish(self, job_id: str, state: JobState, *, error: str | None = None, skipped: int = 0) -> None:
        self.store.update(job_id, state=state, finished_at=now(), error=error, skipped=skipped)
        with self._changed:
            live = self._live.pop(job_id, None)
            if live is not None and live.images:
                self._kept[job_id] = live.images
                while len(self._kept) > _KEEP_UNCLAIMED:  # a caller that went away never takes its images
                    self._kept.pop(next(iter(self._kept)))
            self._bump_locked()

    def _bump(self) -> None:
        with self._changed:
            self._bump_locked()

    def _bump_locked(self) -> None:
        self._version += 1
        self._changed.notify_all()
