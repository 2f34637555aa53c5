"""generate(): Recipe -> Pictures on a loaded diffusers pipeline. A function: no settings, no rows, no globals.

Seeds: picture i of a recipe (counted across batches) uses seed + i, and each picture has its own
torch.Generator, so a picture's noise does not depend on its batch neighbours. Noise is drawn on the CPU
by default (A1111's "RNG: CPU"), so a seed means the same starting noise on CUDA, MPS and CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import torch

from sfumato.engine.composable import composable_unet
from sfumato.engine.conditioning import PromptPlan, plan_prompt
from sfumato.engine.devices import DevicePlan
from sfumato.engine.embeddings import LibraryEmbeddings, check_recorded_embeddings, with_embeddings
from sfumato.engine.hires import hires_pass, plan_hires_prompt, second_pass_recipe
from sfumato.engine.image_checks import check_images
from sfumato.engine.image_passes import denoised_steps, sample
from sfumato.engine.image_prep import PreparedImages, SourceImages, prepare_images
from sfumato.engine.lora import split_weight_warnings
from sfumato.engine.model_cache import LoadedModel
from sfumato.engine.noise import variation_latents
from sfumato.engine.previews import X0Estimates
from sfumato.engine.progress import CancelToken, ProgressEvent, ProgressFn
from sfumato.engine.samplers import make_scheduler
from sfumato.engine.vae_decode import decode_latents
from sfumato.errors import RecipeError
from sfumato.models.families import FAMILIES, Family
from sfumato.picture import BatchPosition, Picture
from sfumato.recipe import Recipe

DTYPE_NAMES = MappingProxyType({torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"})


def check_recipe_for_model(recipe: Recipe, model: LoadedModel) -> None:
    """Family-dependent rules, checked once before any work (the Recipe validated the rest)."""
    factor = model.vae_scale_factor
    for field in ("width", "height"):
        value = getattr(recipe, field)
        if value % factor:
            raise RecipeError(
                f"{field} must be a multiple of {factor} for {FAMILIES[model.family].label} models, got {value}",
                field=field,
            )
    check_images(recipe)
    if model.family is Family.SDXL_REFINER and recipe.init_image_hash is None:
        raise RecipeError(
            "model: an SDXL refiner only refines an existing picture (img2img); it cannot start from a prompt alone",
            field="model",
        )


def picture_recipe(recipe: Recipe, seed: int, plan: DevicePlan, *, subseed: int | None = None) -> Recipe:
    """The recipe that makes exactly this one picture: its own seed (and variation seed), device and dtype."""
    return recipe.replace(
        seed=seed, subseed=subseed, batch_size=1, batch_count=1,
        device=plan.device.type if plan.device.index is None
        else f"{plan.device.type}:{plan.device.index}", dtype=DTYPE_NAMES[plan.dtype],
    )


@dataclass(frozen=True)
class StepReporting:
    """Who hears about each step of one batch, and how often they get a preview picture."""

    cancel: CancelToken | None
    on_progress: ProgressFn | None
    batch: int
    batches: int
    steps: int
    calls: int
    preview_every: int = 0
    estimates: X0Estimates | None = None
    # Progress over every pass of the batch (issue #7): steps reported before this pass, and in all passes.
    done_before: int = 0
    total: int = 0  # 0: this pass's steps are the whole batch


def _step_callback(prompt: PromptPlan, report: StepReporting) -> Any:
    def on_step_end(pipe: Any, call: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        if report.cancel is not None:
            report.cancel.raise_if_cancelled()
        if report.on_progress is not None:
            # Progress counts sampler steps; second-order samplers make two model calls per step.
            step = report.done_before - (-(call + 1) * report.steps // report.calls)
            wants_preview = report.preview_every > 0 and (call + 1) % report.preview_every == 0
            preview = _preview(pipe, report, callback_kwargs["latents"]) if wants_preview else None
            report.on_progress(ProgressEvent("sample", report.batch, report.batches, step,
                                             report.total or report.steps, preview))
        # Only conditioning for the next step is ever returned: observers never replace latents.
        return prompt.step_outputs(pipe, call)

    return on_step_end


def _preview(pipe: Any, report: StepReporting, latents: torch.Tensor) -> Any:
    """Decode the sampler's current x0 estimate of the first picture (the noisy latents when it gives none)."""
    estimate = report.estimates.latest if report.estimates is not None else None
    source = (estimate if estimate is not None else latents)[:1]  # (1, C, H/f, W/f)
    pixels, _ = decode_latents(pipe.vae, source)
    return pipe.image_processor.postprocess(pixels, output_type="pil")[0]


def count_model_calls(scheduler: Any, steps: int) -> int:
    """How many UNet calls sampling makes (second-order schedulers call twice per step, as A1111 counts)."""
    scheduler.set_timesteps(steps)
    return len(scheduler.timesteps)


@dataclass(frozen=True)
class PassSteps:
    """What one sampling pass of a batch runs: sampler steps and model calls (step callbacks)."""

    steps: int
    calls: int


def pass_steps(recipe: Recipe, model: LoadedModel, steps: int, strength: float) -> PassSteps:
    """A pass of `steps` at denoising `strength` (1 for text-to-image): img2img skips the first (1 - strength) of
    the schedule, in diffusers as in A1111, whose progress bar also counts only the steps it runs."""
    scheduler = make_scheduler(recipe.sampler, recipe.schedule_type, model.base_scheduler_config)
    calls, run = count_model_calls(scheduler, steps), denoised_steps(steps, strength)
    # diffusers drops `order` timesteps per skipped step (get_timesteps); nothing runs below one step.
    return PassSteps(run, calls - (steps - run) * int(getattr(scheduler, "order", 1))) if run >= 1 else PassSteps(0, 0)


def batch_passes(recipe: Recipe, model: LoadedModel, images: bool) -> tuple[PassSteps, PassSteps]:
    """The first pass and the hires-fix pass (0 steps without one) of every batch of `recipe`."""
    strength = 1.0 if not images or recipe.denoising_strength is None else recipe.denoising_strength
    first = pass_steps(recipe, model, recipe.steps, strength)
    if recipe.hires_upscaler is None or recipe.denoising_strength is None:
        return first, PassSteps(0, 0)
    second = second_pass_recipe(recipe)  # the hires pass's sampler and steps (issue #7)
    return first, pass_steps(second, model, second.steps, recipe.denoising_strength)


def _unapplied_adapters(recipe: Recipe, prompt: PromptPlan) -> tuple[str, ...]:
    # LoRAs are applied from Recipe.adapters (engine/lora.py) and embeddings from the prompt's words
    # (engine/embeddings.py); the edge turns prompt tags into adapters, so a tag left over is from a Recipe
    # built by hand or a picture made before LoRAs were applied.
    given = {a.name for a in recipe.adapters}
    tags = sorted({tag.name for tag in prompt.schedule.adapters if tag.kind == "lora"} - given)
    return (*(f"prompt tag <lora:{name}> was not applied: it is not among the recipe's adapters" for name in tags),
            *split_weight_warnings(prompt.schedule.adapters))


def generate_batch(recipe: Recipe, model: LoadedModel, prompt: PromptPlan, batch: int, *,
                   cancel: CancelToken | None = None, on_progress: ProgressFn | None = None,
                   preview_every: int = 0, prepared: PreparedImages | None = None,
                   hires_prompt: PromptPlan | None = None) -> list[Picture]:
    """One batch of `recipe.batch_size` pictures; batch b starts at seed + b * batch_size.

    `hires_prompt`: the hires pass's own plan (engine/hires.py), needed with a hires fix."""
    pipe, size = model.pipe, recipe.batch_size
    # One bar per batch that ends at 100%: the hires pass's steps continue the first pass's count rather than
    # start a second bar at 0, so a web-studio user sees progress only ever move forward, then the decode.
    first, second = batch_passes(recipe, model, prepared is not None)
    total = first.steps + second.steps
    seeds = [recipe.image_seed(batch * size + i) for i in range(size)]
    noise_device = torch.device("cpu") if recipe.noise_source == "cpu" else model.plan.device
    generators = [torch.Generator(noise_device).manual_seed(seed) for seed in seeds]
    # Variations (issue #7): the seed noise slerped towards the subseed's; None lets the pipeline draw it.
    subseeds = [recipe.image_subseed(batch * size + i) for i in range(size)]
    latents = variation_latents(pipe, recipe, generators, subseeds)
    # A fresh scheduler per batch: diffusers schedulers keep step state between calls.
    pipe.scheduler = make_scheduler(recipe.sampler, recipe.schedule_type, model.base_scheduler_config,
                                    noise_seed=seeds)
    report = StepReporting(cancel, on_progress, batch, recipe.batch_count, first.steps, first.calls, preview_every,
                           X0Estimates.observe(pipe.scheduler) if preview_every > 0 else None, total=total)
    arguments: dict[str, Any] = {
        **prompt.arguments(),
        "num_inference_steps": recipe.steps,
        "width": recipe.width,
        "height": recipe.height,
        "generator": generators,
        "output_type": "latent",
        "callback_on_step_end": _step_callback(prompt, report),
        "callback_on_step_end_tensor_inputs": ["latents", *prompt.tensor_inputs],
    }
    started = time.perf_counter()
    with torch.inference_mode():
        # img2img / inpainting / hires fix (issue #7): the same arguments, through engine/image_passes.py.
        # Variation latents replace text-to-image noise; with an init image sample() slerps the added noise.
        first_pass = arguments if latents is None else {**arguments, "latents": latents}
        with composable_unet(pipe, prompt):
            latents = sample(pipe, first_pass, recipe, prepared, subseeds)  # (B, C, H/f, W/f)
        if recipe.hires_upscaler is not None:
            assert hires_prompt is not None  # generate() plans it with the first pass's
            hires_report = replace(report, steps=second.steps, calls=second.calls, done_before=first.steps)
            latents = _second_pass(model, arguments, recipe, latents, hires_prompt, hires_report, seeds)
        sampled = time.perf_counter()
        if on_progress is not None:
            on_progress(ProgressEvent("decode", batch, recipe.batch_count, total, total))
        pixels, warnings = decode_latents(pipe.vae, latents)
        images = pipe.image_processor.postprocess(pixels, output_type="pil")
        if prepared is not None:
            images = [prepared.paste_back(image) for image in images]  # unmasked pixels stay the init's
    warnings = (*prompt.schedule.warnings, *_unapplied_adapters(recipe, prompt), *warnings)
    timings = MappingProxyType({"sample_s": sampled - started, "decode_s": time.perf_counter() - sampled})
    return [
        Picture(image, picture_recipe(recipe, seed, model.plan, subseed=subseed),
                BatchPosition(seeds[0], size, index), timings, tuple(warnings))
        for index, (image, seed, subseed) in enumerate(zip(images, seeds, subseeds, strict=True))
    ]


def _second_pass(model: LoadedModel, arguments: dict[str, Any], recipe: Recipe, latents: torch.Tensor,
                 prompt: PromptPlan, report: StepReporting, seeds: list[int]) -> torch.Tensor:
    """The hires pass (issue #7) with its own prompt plan: its schedule and composable hooks start afresh."""
    hires_arguments = {**arguments, **prompt.arguments(), "callback_on_step_end": _step_callback(prompt, report),
                       "callback_on_step_end_tensor_inputs": ["latents", *prompt.tensor_inputs]}
    with composable_unet(model.pipe, prompt):
        return hires_pass(model.pipe, hires_arguments, recipe, latents,
                          base_scheduler_config=model.base_scheduler_config, seeds=seeds)


def generate(recipe: Recipe, *, model: LoadedModel, cancel: CancelToken | None = None,
             on_progress: ProgressFn | None = None, preview_every: int = 0,
             embeddings: LibraryEmbeddings | None = None, images: SourceImages | None = None) -> list[Picture]:
    """All pictures of `recipe`: batch_count batches of batch_size, in seed order.

    `embeddings`: the textual inversions prompts may use; the ones used are recorded on each Picture's recipe.
    `images` holds the init image and mask the recipe names by hash (the engine's caller reads them).
    """
    check_recipe_for_model(recipe, model)
    if embeddings is not None:
        check_recorded_embeddings(recipe, embeddings)
    prepared = prepare_images(recipe, images) if images is not None else None
    # 1. Encode the prompts once for every batch, over the model calls the sampler will make. img2img keeps the
    # whole schedule's calls and counts from the first call it runs, as A1111 does: its setup_conds spans
    # p.steps and its CFG denoiser's step starts at 0 on the first sampled step (so [a:b:0.5] at strength 0.5
    # switches to b only at the end of the steps run, if at all).
    calls = count_model_calls(make_scheduler(recipe.sampler, recipe.schedule_type, model.base_scheduler_config),
                              recipe.steps)
    prompt = plan_prompt(recipe, model.pipe, batch_size=recipe.batch_size, model_calls=calls, embeddings=embeddings)
    hires_prompt = plan_hires_prompt(recipe, model.pipe, model.base_scheduler_config, first_pass_calls=calls,
                                     embeddings=embeddings)
    if embeddings is not None:
        used = prompt.schedule.embeddings | (hires_prompt.schedule.embeddings if hires_prompt else frozenset())
        recipe = with_embeddings(recipe, embeddings.adapters(used))
    # 2. Sample and decode batch by batch.
    pictures: list[Picture] = []
    for batch in range(recipe.batch_count):
        if cancel is not None:
            cancel.raise_if_cancelled()
        pictures.extend(generate_batch(recipe, model, prompt, batch, cancel=cancel, on_progress=on_progress,
                                       preview_every=preview_every, prepared=prepared, hires_prompt=hires_prompt))
    return pictures
