"""The job queue: Recipes waiting for the device, stored in SQLite so a restart or crash loses none of them.

`JobQueue` holds the jobs (and their live progress); one `Worker` thread per device runs them in order.
"""

from __future__ import annotations

from sfumato.jobs.queue import JobQueue
from sfumato.jobs.records import Job, JobNotFound, JobProgress, JobState, QueueBusy
from sfumato.jobs.worker import Worker

__all__ = ["Job", "JobNotFound", "JobProgress", "JobQueue", "JobState", "QueueBusy", "Worker"]
