"""LocalEngine: runs Recipes on this machine's device, with a model cache. The concrete side of studio's Engine."""

from __future__ import annotations

from dataclasses import replace

import torch

from sfumato.engine.devices import DevicePlan, DeviceProbe, DeviceRequest, plan_device, probe_devices
from sfumato.engine.generate import generate
from sfumato.engine.lora import apply_loras, resolve_loras
from sfumato.engine.model_cache import LoadedModel, ModelCache
from sfumato.engine.progress import CancelToken, ProgressEvent, ProgressFn
from sfumato.engine.samplers import make_scheduler
from sfumato.errors import OutOfMemory, UnknownArchitecture
from sfumato.models.families import FAMILIES
from sfumato.models.library import ModelEntry, ModelLibrary
from sfumato.picture import Picture
from sfumato.recipe import Recipe


class LocalEngine:
    """Loads the recipe's model (once), plans the device, generates. Only one worker thread calls `run`."""

    def __init__(self, library: ModelLibrary, *, probe: DeviceProbe | None = None) -> None:
        self.library = library
        self.probe = probe if probe is not None else probe_devices()
        self.cache = ModelCache()

    def plan(self, recipe: Recipe, entry: ModelEntry) -> DevicePlan:
        request = DeviceRequest(device=recipe.device, dtype=recipe.dtype)
        return plan_device(request, model_bytes=entry.size, width=recipe.width, height=recipe.height,
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
        try:
            model = self.load(recipe, on_progress=on_progress)
            loras, notes = resolve_loras(recipe, self.library, model.family)
            apply_loras(model.pipe, model.loras, loras, family=model.family)
            pictures = generate(recipe, model=model, cancel=cancel, on_progress=on_progress,
                                preview_every=preview_every)
            return [replace(p, warnings=(*p.warnings, *notes)) for p in pictures] if notes else pictures
        except torch.OutOfMemoryError as error:
            self.cache.clear()
            raise OutOfMemory(
                f"the device ran out of memory making {recipe.width}x{recipe.height} x{recipe.batch_size}",
                hint="lower the size or batch size, or ask for offload (--offload model) / fp16",
            ) from error

    def close(self) -> None:
        self.cache.clear()
