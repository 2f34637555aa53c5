"""DreamBooth's class pictures: made by the engine through the studio's job queue, kept as a library collection
and reused by later runs (only the missing ones are made).

The collection is named from the class prompt, base model and size, so another model or size gets its own.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sfumato.errors import SfumatoError
from sfumato.jobs import JobState, QueueBusy
from sfumato.studio import Studio


def class_collection(prompt: str, base: str, size: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "class"
    digest = hashlib.sha256(f"{base}\0{prompt}\0{size}".encode()).hexdigest()[:8]
    return f"class-{slug}-{digest}"


def ensure_class_images(studio: Studio, *, base: str, prompt: str, count: int, size: int, seed: int) -> Path:
    """The folder holding at least `count` class pictures; missing ones are queued as one job and awaited."""
    collection = class_collection(prompt, base, size)
    folder = studio.catalog.root / collection
    have = len(list(folder.glob("*.png"))) if folder.is_dir() else 0
    if have >= count:
        return folder
    recipe = studio.new_recipe({"model": base, "prompt": prompt, "seed": seed + have, "batch_count": count - have,
                                "width": size, "height": size})
    job = studio.jobs.submit(recipe, requested_by="cli", collection=collection)
    try:
        studio.start_worker()
    except QueueBusy:
        pass  # a running `sfumato serve` owns the queue: its worker makes them
    done = studio.jobs.wait(job.id)
    if done.state is not JobState.DONE:
        raise SfumatoError(f"class pictures: job {job.id} ended {done.state.value} ({done.error or 'no reason given'})")
    return folder
