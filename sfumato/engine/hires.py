"""Hires fix (A1111's two-pass txt2img): upscale the first pass's latents or pixels, then img2img at the larger size.

Upscalers go by A1111's names: the latent ones interpolate the latents (torch), "Lanczos" / "Nearest" / "None"
resize the decoded picture (PIL; A1111's "None" is a Lanczos resize too). Upscaler models (ESRGAN, ...) are
not here: a recipe naming one is refused before the model loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import torch
from PIL import Image

from sfumato.engine.conditioning import PromptPlan, plan_prompt
from sfumato.engine.image_passes import call_pipeline, denoised_steps, encode, refine_arguments, task_pipeline
from sfumato.engine.samplers import make_scheduler
from sfumato.engine.vae_decode import decode_latents
from sfumato.errors import RecipeError
from sfumato.prompt.embedding_words import TextualInversions
from sfumato.recipe import Recipe


@dataclass(frozen=True)
class Upscaler:
    space: str  # "latent" or "pixel"
    mode: str  # torch interpolate mode, or a PIL resampling name
    antialias: bool = False


UPSCALERS: Final[Mapping[str, Upscaler]] = MappingProxyType({
    "Latent": Upscaler("latent", "bilinear"),
    "Latent (antialiased)": Upscaler("latent", "bilinear", antialias=True),
    "Latent (bicubic)": Upscaler("latent", "bicubic"),
    "Latent (bicubic antialiased)": Upscaler("latent", "bicubic", antialias=True),
    "Latent (nearest)": Upscaler("latent", "nearest"),
    "Latent (nearest-exact)": Upscaler("latent", "nearest-exact"),
    "None": Upscaler("pixel", "LANCZOS"),
    "Lanczos": Upscaler("pixel", "LANCZOS"),
    "Nearest": Upscaler("pixel", "NEAREST"),
})


def check_hires(recipe: Recipe) -> None:
    """Refuse a hires fix the engine cannot run, before any model is loaded."""
    if recipe.hires_upscaler is None:
        return
    if recipe.hires_upscaler not in UPSCALERS:
        raise RecipeError(
            f"hires_upscaler: sfumato has no upscaler {recipe.hires_upscaler!r} (upscaler models are not supported); "
            f"allowed: {', '.join(UPSCALERS)}", field="hires_upscaler",
        )
    if recipe.denoising_strength is None:
        raise RecipeError("denoising_strength: the hires fix needs a denoising strength from 0 to 1, got None",
                          field="denoising_strength")
    checkpoint = recipe.extra_dict().get("Hires checkpoint", "Use same checkpoint")
    if checkpoint != "Use same checkpoint":
        raise RecipeError(f"extra: 'Hires checkpoint' {checkpoint!r}: sfumato's hires pass runs on the first pass's "
                          "model; remove the key to use it", field="extra")
    if recipe.init_image_hash is not None:
        raise RecipeError("hires_upscaler: the hires fix is a text-to-image feature; leave it unset with an init "
                          f"image (got {recipe.hires_upscaler!r})", field="hires_upscaler")


def second_pass_recipe(recipe: Recipe) -> Recipe:
    """The recipe the hires pass samples with: its steps, and A1111's hires sampler / schedule / prompts if set."""
    return recipe.replace(
        steps=recipe.hires_steps or recipe.steps, sampler=recipe.hires_sampler or recipe.sampler,
        schedule_type=recipe.hires_schedule_type or recipe.schedule_type, prompt=recipe.hires_prompt or recipe.prompt,
        negative_prompt=recipe.hires_negative_prompt or recipe.negative_prompt)


def plan_hires_prompt(recipe: Recipe, pipe: Any, base_scheduler_config: Mapping[str, Any], *, first_pass_calls: int,
                      embeddings: TextualInversions | None = None) -> PromptPlan | None:
    """The hires pass's own prompt plan, None without a hires fix.

    As A1111's calculate_hr_conds, the conditioning is rebuilt over the hires pass's steps with A1111's hires
    timeline: `[a:b:0.5]` has switched before the hires pass, `[a:b:1.5]` switches halfway through it,
    `[a:b:N]` at step N - first pass steps; the pass counts from the first step it runs (as img2img).
    """
    if recipe.hires_upscaler is None or recipe.denoising_strength is None:
        return None
    second = second_pass_recipe(recipe)
    try:
        scheduler = make_scheduler(second.sampler, second.schedule_type, base_scheduler_config)
    except RecipeError as error:  # name the hires fields: the first pass's pair was fine
        raise RecipeError(f"hires_schedule_type (hires pass sampler {second.sampler!r}): {error}",
                          field="hires_schedule_type") from error
    scheduler.set_timesteps(second.steps)  # model calls: second-order samplers call twice per step
    return plan_prompt(second, pipe, batch_size=recipe.batch_size, model_calls=len(scheduler.timesteps),
                       embeddings=embeddings, first_pass_calls=first_pass_calls)


def upscale(pipe: Any, latents: torch.Tensor, recipe: Recipe) -> torch.Tensor | list[Image.Image]:
    """The first pass's output at the hires size: latents (B, C, H2/f, W2/f), or decoded and resized pictures."""
    assert recipe.hires_upscaler is not None
    spec, (width, height) = UPSCALERS[recipe.hires_upscaler], recipe.hires_size()
    if spec.space == "latent":
        factor = pipe.vae_scale_factor
        size = (height // factor, width // factor)
        return torch.nn.functional.interpolate(latents, size=size, mode=spec.mode, antialias=spec.antialias)
    pixels, _ = decode_latents(pipe.vae, latents)
    images = pipe.image_processor.postprocess(pixels, output_type="pil")
    return [image.resize((width, height), Image.Resampling[spec.mode]) for image in images]


def hires_pass(pipe: Any, arguments: dict[str, Any], recipe: Recipe, latents: torch.Tensor, *,
               base_scheduler_config: Mapping[str, Any], seeds: list[int]) -> torch.Tensor:
    """Second pass: img2img of the upscaled first pass, with its own steps and the recipe's denoising strength."""
    assert recipe.denoising_strength is not None  # check_hires ran first
    second_pass = second_pass_recipe(recipe)
    steps = second_pass.steps
    upscaled = upscale(pipe, latents, recipe)
    if denoised_steps(steps, recipe.denoising_strength) < 1:
        if isinstance(upscaled, torch.Tensor):
            return upscaled
        return torch.cat([encode(pipe, image) for image in upscaled])
    # A fresh scheduler for the second pass: diffusers schedulers keep step state.
    pipe.scheduler = make_scheduler(second_pass.sampler, second_pass.schedule_type, base_scheduler_config,
                                    noise_seed=seeds)
    width, height = recipe.hires_size()
    refine = refine_arguments(pipe, upscaled)
    task = refine.pop("task")
    second = {**arguments, **refine, "strength": recipe.denoising_strength, "num_inference_steps": steps,
              "width": width, "height": height}
    return call_pipeline(task_pipeline(pipe, task), second)
