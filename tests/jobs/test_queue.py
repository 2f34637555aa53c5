"""The job queue on a real Studio (tiny model): order and priorities, skip, recovery after a dead process,
idempotent saving, one owner per home."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfumato.jobs import JobQueue, JobState, QueueBusy
from sfumato.settings import Settings
from sfumato.studio import Studio


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    import torch

    torch.set_num_threads(1)
    opened = Studio.open(Settings(home=tmp_path / "home"))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def working(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """A studio whose worker runs; shared so the model loads once. Each test leaves its queue empty."""
    import torch

    torch.set_num_threads(1)
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("working") / "home"))
    opened.start_worker()
    yield opened
    opened.close()


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_jobs_run_by_priority_then_in_submission_order(working: Studio) -> None:
    studio = working
    blocker = studio.jobs.submit(studio.new_recipe({"prompt": "blocker", "steps": 30}))
    wait_for(lambda: studio.jobs.get(blocker.id).state is JobState.RUNNING)
    recipe = studio.new_recipe({"prompt": "ordered", "steps": 2})
    first = studio.jobs.submit(recipe)
    urgent = studio.jobs.submit(recipe, priority=5)
    second = studio.jobs.submit(recipe)
    assert [studio.jobs.position(j.id) for j in (urgent, first, second)] == [0, 1, 2]
    finished = [studio.jobs.wait(j.id, timeout=60) for j in (first, urgent, second)]
    assert all(j.state is JobState.DONE and len(j.picture_ids) == 1 for j in finished)
    starts = {j.id: j.started_at for j in finished}
    assert starts[urgent.id] < starts[first.id] < starts[second.id]


def test_skip_drops_only_the_running_batch(working: Studio) -> None:
    studio = working
    job = studio.jobs.submit(studio.new_recipe({"prompt": "skipping", "steps": 30, "batch_count": 3, "seed": 10}))
    wait_for(lambda: (p := studio.jobs.get(job.id).progress) is not None and p.stage == "sample" and p.step > 1)
    assert studio.jobs.skip() is not None
    done = studio.jobs.wait(job.id, timeout=60)
    assert done.state is JobState.DONE and done.skipped == 1 and len(done.picture_ids) == 2
    seeds = sorted(studio.catalog.get(pid).seed for pid in done.picture_ids)
    assert seeds == [11, 12]  # batch 0 (seed 10) was skipped


def test_interrupt_keeps_what_was_made_and_says_why(working: Studio) -> None:
    studio = working
    job = studio.jobs.submit(studio.new_recipe({"prompt": "stopped", "steps": 30, "batch_count": 3}))
    wait_for(lambda: (p := studio.jobs.get(job.id).progress) is not None and p.batch == 1 and p.step > 1)
    studio.jobs.interrupt()
    done = studio.jobs.wait(job.id, timeout=60)
    assert done.state is JobState.CANCELLED and done.error == "interrupted" and len(done.picture_ids) == 1


def test_a_dead_owners_running_jobs_are_retried_once_then_failed_with_the_reason(tmp_path: Path) -> None:
    from sfumato.recipe import Recipe

    path = tmp_path / "jobs.sqlite3"
    queue = JobQueue.open(path)
    retried = queue.submit(Recipe(prompt="retry me"))
    exhausted = queue.submit(Recipe(prompt="twice dead"))
    unsaved = queue.submit(Recipe(prompt="nobody waits"), save=False)
    for job, attempts in ((retried, 1), (exhausted, 2), (unsaved, 1)):
        queue.store.update(job.id, state=JobState.RUNNING, attempts=attempts)
    queue.close()  # the process "died" with three jobs running

    queue = JobQueue.open(path)
    queue.own()
    again, failed, gone = (queue.get(j.id) for j in (retried, exhausted, unsaved))
    assert again.state is JobState.QUEUED and "attempt 1 of 2" in (again.note or "")
    assert failed.state is JobState.FAILED and "not retried" in (failed.error or "")
    assert gone.state is JobState.FAILED and "returned, not saved" in (gone.error or "")
    queue.close()


def test_a_picture_saved_just_before_a_crash_is_adopted_not_written_again(studio: Studio) -> None:
    recipe = studio.new_recipe({"prompt": "half saved", "steps": 2, "batch_size": 2, "seed": 70})
    job = studio.jobs.submit(recipe)
    # What a dying process leaves: the job running, position 0 begun and its file added, never recorded.
    picture = studio.engine.run(recipe.replace(batch_size=2))[0]
    studio.jobs.store.update(job.id, state=JobState.RUNNING, attempts=1)
    studio.jobs.begin_saving(job.id, 0)
    orphan = studio.catalog.add(picture)
    studio.start_worker()  # owns the queue: recovers the job and runs it
    done = studio.jobs.wait(job.id, timeout=60)
    assert done.state is JobState.DONE and done.picture_ids[0] == orphan.id and len(set(done.picture_ids)) == 2
    assert studio.catalog.count("half saved") == 2


def test_only_one_process_runs_a_homes_jobs(tmp_path: Path) -> None:
    first, second = JobQueue.open(tmp_path / "jobs.sqlite3"), JobQueue.open(tmp_path / "jobs.sqlite3")
    first.own()
    with pytest.raises(QueueBusy, match="another sfumato process"):
        second.own()
    first.close()
    second.own()  # the lock went with its owner
    second.close()
