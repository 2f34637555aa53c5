"""LocalEngine: runs Recipes on this machine's device, with a model cache. The concrete side of studio's Engine."""

from __future__ import annotations

from dataclasses import replace

import torch

from sfumato.engine.devices import DevicePlan, DeviceProbe, DeviceRequest, plan_device, probe_devices
from sfumato.engine.embeddings import library_embeddings
from sfumato.engine.generate import generate
from sfumato.engine.image_checks import check_images
from sfumato.engine.image_prep import ImageSource, SourceImages, load_source_images
from sfumato.engine.lora import apply_loras, resolve_loras
from sfumato.engine.model_cache import LoadedModel, ModelCache
from sfumato.engine.progress import CancelToken, ProgressEvent, ProgressFn
from sfumato.engine.samplers import make_scheduler
from sfumato.errors import OutOfMemory, RecipeError, UnknownArchitecture
from sfumato.models.families import FAMILIES
from sfumato.models.library import ModelEntry, ModelLibrary
from sfumato.picture import Picture
from sfumato.recipe import Recipe


class LocalEngine:
    """Loads the recipe's model (once), plans the device, generates. Only one worker thread calls `run`."""

    def __init__(self, library: ModelLibrary, *, probe: DeviceProbe | None = None,
                 images: ImageSource | None = None) -> None:
        self.library = library
        self.probe = probe if probe is not None else probe_devices()
        self.cache = ModelCache()
        self.images = images  # where init images and masks named by hash are read (the library's .inputs)

    def plan(self, recipe: Recipe, entry: ModelEntry) -> DevicePlan:
        request = DeviceRequest(device=recipe.device, dtype=recipe.dtype)
        # The hires fix's second pass is the largest picture the plan must fit (issue #7).
        width, height = recipe.hires_size() if recipe.hires_upscaler is not None else (recipe.width, recipe.height)
        return plan_device(request, model_bytes=entry.size, width=width, height=height,
                           batch_size=recipe.batch_size, probe=self.probe,
                           vae_fp32=FAMILIES[entry.family].vae_needs_fp32 if entry.family else False)

    def load(self, recipe: Recipe, *, on_progress: ProgressFn | None = None) -> LoadedModel:
        entry = self.library.find(recipe.model, with_hashes=False)
        if entry.family is None:
            raise UnknownArchitecture(f"model {recipe.model!r} cannot be loaded: {entry.error}")
        if on_progress is not None:
            on_progress(ProgressEvent("load", 0, recipe.batch_count, 0, recipe.steps))
        return self.cache.get(entry, self.plan(recipe, entry))

    def run(self, recipe: Recipe, *, cancel: CancelToken | None = None,
            on_progress: ProgressFn | None = None, preview_every: int = 0) -> list[Picture]:
        # Refuse a sampler/schedule pair before spending seconds on loading the model.
        make_scheduler(recipe.sampler, recipe.schedule_type, {})
        check_images(recipe)
        images = self._source_images(recipe)
        try:
            model = self.load(recipe, on_progress=on_progress)
            loras, notes = resolve_loras(recipe, self.library, model.family)
            apply_loras(model.pipe, model.loras, loras, family=model.family)
            pictures = generate(recipe, model=model, cancel=cancel, on_progress=on_progress,
                                preview_every=preview_every, embeddings=library_embeddings(self.library),
                                images=images)
            return [replace(p, warnings=(*p.warnings, *notes)) for p in pictures] if notes else pictures
        except torch.OutOfMemoryError as error:
            self.cache.clear()
            raise OutOfMemory(
                f"the device ran out of memory making {recipe.width}x{recipe.height} x{recipe.batch_size}",
                hint="lower the size or batch size, or ask for offload (--offload model) / fp16",
            ) from error

    def _source_images(self, recipe: Recipe) -> SourceImages | None:
        if recipe.init_image_hash is not None and self.images is None:
            raise RecipeError("init_image_hash: this engine was given no input image store to read "
                              f"{recipe.init_image_hash[:12]!r} from", field="init_image_hash")
        return load_source_images(recipe, self.images) if self.images is not None else None

    def close(self) -> None:
        self.cache.clear()
