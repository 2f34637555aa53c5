"""Studio: the composition root. Holds settings, the model library, the catalog and the engine, wired once.

The CLI and the server each open one Studio and pass it down; nothing is a module global. The engine is
reached through the small `Engine` protocol and the concrete one is imported only when first needed,
so `sfumato --help` and the API schema never import torch.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from sfumato.catalog import Catalog
from sfumato.catalog.inputs import FOLDER as INPUTS_FOLDER
from sfumato.catalog.inputs import InputImages
from sfumato.engine.progress import CancelToken, ProgressFn
from sfumato.errors import NotReproduced
from sfumato.jobs import JobQueue, Worker
from sfumato.models.families import FAMILIES
from sfumato.models.hashing import HashCache
from sfumato.models.library import ModelEntry, ModelLibrary
from sfumato.models.lora_refs import with_prompt_loras
from sfumato.picture import Picture
from sfumato.picture_file import read_metadata, write_picture
from sfumato.recipe import MAX_SEED, Recipe, recipe_from
from sfumato.settings import Settings


class Engine(Protocol):
    def run(self, recipe: Recipe, *, cancel: CancelToken | None = None,
            on_progress: ProgressFn | None = None, preview_every: int = 0) -> list[Picture]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SavedPicture:
    path: Path
    recipe: Recipe
    picture_id: str | None  # None when written outside the library (--out)
    warnings: tuple[str, ...] = ()  # the engine's notes on the picture (also in its file's metadata)


@dataclass(frozen=True)
class AgainReport:
    path: Path
    matches: bool
    differing_pixels: int
    max_difference: int
    notes: tuple[str, ...]


class Studio:
    """Everything a session of sfumato needs, created by `Studio.open(settings)` and closed by `close()`."""

    def __init__(self, settings: Settings, library: ModelLibrary, catalog: Catalog,
                 engine: Engine | None = None, jobs: JobQueue | None = None) -> None:
        self.settings = settings
        self.library = library
        self.catalog = catalog
        self.jobs = jobs if jobs is not None else JobQueue.open(settings.home / "jobs.sqlite3")
        self._engine = engine
        self._workers: list[Worker] = []
        # Init images and masks (issue #7), kept by hash in the library so a picture can be made again.
        self.inputs = InputImages(catalog.root / INPUTS_FOLDER)

    @classmethod
    def open(cls, settings: Settings) -> Studio:
        settings.home.mkdir(parents=True, exist_ok=True)
        library = ModelLibrary(settings.model_roots(), HashCache(settings.cache_dir / "hashes.json"))
        return cls(settings, library, Catalog.open(settings.library_path))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from sfumato.engine.local import LocalEngine  # the one sanctioned late import: torch loads here

            self._engine = LocalEngine(self.library, images=self.inputs)
        return self._engine

    def start_worker(self) -> Worker:
        """Own the job queue (one process per home) and start a thread running its jobs on the engine."""
        self.jobs.own()
        worker = Worker(self.jobs, run=self._run_on_engine, catalog=self.catalog)
        worker.start()
        self._workers.append(worker)
        return worker

    def _run_on_engine(self, recipe: Recipe, *, cancel: CancelToken | None = None,
                       on_progress: ProgressFn | None = None, preview_every: int = 0) -> list[Picture]:
        # In the worker thread only.
        return self.engine.run(recipe, cancel=cancel, on_progress=on_progress, preview_every=preview_every)

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self.jobs.close()
        if self._engine is not None:
            self._engine.close()
        self.catalog.close()

    def new_recipe(self, fields: Mapping[str, Any]) -> Recipe:
        """A Recipe from what a person gave; the rest comes from the model family's defaults.

        A seed of -1 (or none) means a fresh random seed, chosen here so the Recipe is reproducible; a subseed
        of -1 likewise.
        """
        given = {key: value for key, value in fields.items() if value is not None}
        given.setdefault("model", self.settings.default_model)
        entry = self.library.find(str(given["model"]), with_hashes=False)
        if entry.family is not None:
            spec = FAMILIES[entry.family]
            given.setdefault("width", spec.native_size)
            given.setdefault("height", spec.native_size)
            given.setdefault("steps", spec.default_steps)
            given.setdefault("guidance_scale", spec.default_guidance)
            given.setdefault("sampler", spec.default_sampler)
        if given.get("seed", -1) == -1:
            given["seed"] = secrets.randbelow(MAX_SEED + 1)
        if given.get("subseed") == -1:  # a variation seed of -1 is a fresh random one too (A1111)
            given["subseed"] = secrets.randbelow(MAX_SEED + 1)
        # LoRA tags in the prompt become adapters with their hashes here, at the edge (models/lora_refs.py).
        recipe = with_prompt_loras(recipe_from({**given, "model": entry.name}), self.library)
        return self.with_model_hashes(recipe, entry)

    def completed(self, recipe: Recipe) -> Recipe:
        """A recipe planned from another (a grid cell, a walk frame) made ready to run as `new_recipe` makes
        them: LoRA tags new to its prompt become hashed adapters, and a changed model gets its hashes."""
        recipe = with_prompt_loras(recipe, self.library)
        return self.with_model_hashes(recipe) if recipe.model_hash is None else recipe

    def with_model_hashes(self, recipe: Recipe, entry: ModelEntry | None = None) -> Recipe:
        # The entry in hand is hashed directly: looking it up again would rescan every model folder.
        entry = self.library.hashed(entry or self.library.find(recipe.model, with_hashes=False))
        if entry.hashes is None:
            return recipe
        return recipe.replace(model_hash=entry.hashes.autov2, model_sha256=entry.hashes.sha256)

    def generate(self, recipe: Recipe, *, collection: str = "unsorted", out_dir: Path | None = None,
                 cancel: CancelToken | None = None, on_progress: ProgressFn | None = None) -> list[SavedPicture]:
        """Make every picture of `recipe` and save each one (library by default, or `out_dir`)."""
        pictures = self.engine.run(recipe, cancel=cancel, on_progress=on_progress)
        return [self.save(picture, collection=collection, out_dir=out_dir) for picture in pictures]

    def save(self, picture: Picture, *, collection: str = "unsorted", out_dir: Path | None = None) -> SavedPicture:
        if out_dir is None:
            record = self.catalog.add(picture, collection=collection)
            return SavedPicture(record.absolute_path(self.catalog.root), picture.recipe, record.id, picture.warnings)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = write_picture(next_free_name(out_dir, picture.recipe.seed), picture,
                             sidecar=self.settings.write_sidecar)
        return SavedPicture(path, picture.recipe, None, picture.warnings)

    def again(self, path: Path, *, device: str | None = None) -> AgainReport:
        """Make a picture again from its own metadata and compare the pixels."""
        meta = read_metadata(path)
        recipe, batch, notes = meta.recipe, meta.batch, []
        if device is not None and device != recipe.device:
            notes.append(f"regenerated on {device} instead of {recipe.device}: pixels may differ")
            recipe = recipe.replace(device=device)
        if batch is not None and batch.size > 1:
            notes.append(f"reran its batch of {batch.size} (seed {batch.seed}) and compared picture {batch.index}")
            run_recipe, index = recipe.replace(seed=batch.seed, batch_size=batch.size, batch_count=1,
                                               subseed=batch_subseed(recipe, batch.index)), batch.index
        else:
            run_recipe, index = recipe, 0
        current = self.with_model_hashes(recipe)
        if recipe.model_sha256 and current.model_sha256 and current.model_sha256 != recipe.model_sha256:
            notes.append(f"the model file {recipe.model!r} changed since (sha256 {current.model_sha256[:10]})")
        picture = self.engine.run(run_recipe)[index]
        with Image.open(path) as original:
            before = np.asarray(original.convert("RGB"), dtype=np.int16)
        after = np.asarray(picture.image.convert("RGB"), dtype=np.int16)
        if before.shape != after.shape:
            return AgainReport(path, False, before.size, 255, (*notes, f"size differs: {before.shape} vs {after.shape}"))
        difference = np.abs(before - after)
        differing = int(np.count_nonzero(difference.max(axis=-1)))
        return AgainReport(path, differing == 0, differing, int(difference.max()), tuple(notes))

    def again_or_raise(self, path: Path, *, device: str | None = None) -> AgainReport:
        report = self.again(path, device=device)
        if not report.matches:
            raise NotReproduced(
                f"{path}: {report.differing_pixels} pixels differ (largest difference {report.max_difference}/255)",
                hint="; ".join(report.notes) or None,
            )
        return report


def batch_subseed(recipe: Recipe, index: int) -> int | None:
    """The first variation seed of the batch in which this picture-level recipe was picture `index`."""
    return None if recipe.subseed is None else (recipe.subseed - index) % (MAX_SEED + 1)


def next_free_name(folder: Path, seed: int) -> Path:
    """A1111's naming in an output folder: '<5-digit counter>-<seed>.png', never overwriting."""
    numbers = [int(p.name[:5]) for p in folder.glob("[0-9][0-9][0-9][0-9][0-9]-*.png")]
    counter = max(numbers, default=-1) + 1
    while (path := folder / f"{counter:05d}-{seed}.png").exists():
        counter += 1
    return path
