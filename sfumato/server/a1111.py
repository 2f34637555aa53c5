"""A1111 `/sdapi/v1/txt2img` translator: the request model (A1111's 55 fields and defaults) -> Recipe fields, and
the `info` JSON string A1111 returns. Pure functions; the routes live in `a1111_routes.py`.

Unknown JSON keys are ignored (as A1111's pydantic v1 models do). Fields A1111 has but sfumato cannot honour
(tiling, face restoration, scripts) are refused with a 422 when switched on,
never silently dropped; fields that change nothing here (eta, s_churn, ...) are accepted.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from sfumato import __version__
from sfumato.errors import RecipeError
from sfumato.infotext import parse_infotext
from sfumato.recipe import Recipe
from sfumato.server.a1111_dynamic import other_scripts

# Infotext key -> request field, for A1111's `infotext` request field (txt2img paste fields with an api name).
_INFOTEXT_FIELDS: Final = (
    ("Prompt", "prompt", str), ("Negative prompt", "negative_prompt", str), ("Steps", "steps", int),
    ("Sampler", "sampler_name", str), ("Schedule type", "scheduler", str), ("CFG scale", "cfg_scale", float),
    ("Seed", "seed", int), ("Size-1", "width", int), ("Size-2", "height", int), ("Batch size", "batch_size", int),
    ("Variation seed", "subseed", int), ("Variation seed strength", "subseed_strength", float),
)


class Txt2ImgRequest(BaseModel):
    """A1111's StableDiffusionTxt2ImgProcessingAPI: every field optional, A1111's defaults, extra keys ignored."""

    model_config = ConfigDict(extra="ignore")

    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list[str] | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0
    seed_resize_from_h: int | None = -1
    seed_resize_from_w: int | None = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool | None = False
    do_not_save_grid: bool | None = False
    eta: float | None = None
    denoising_strength: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool | None = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool | None = False
    firstpass_image: str | None = None
    comments: dict[str, Any] | None = None
    enable_hr: bool | None = False
    firstphase_width: int | None = 0
    firstphase_height: int | None = 0
    hr_scale: float | None = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = 0
    hr_resize_x: int | None = 0
    hr_resize_y: int | None = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str | None = ""
    hr_negative_prompt: str | None = ""
    force_task_id: str | None = None
    sampler_index: str | None = "Euler"
    script_name: str | None = None
    script_args: list[Any] | None = []
    send_images: bool | None = True
    save_images: bool | None = False
    alwayson_scripts: dict[str, Any] | None = {}
    infotext: str | None = None


def refuse_unsupported(request: Txt2ImgRequest) -> None:
    """Raise for A1111 features that would change the picture and that sfumato does not have."""
    switched_on = {
        "tiling": bool(request.tiling),
        "restore_faces": bool(request.restore_faces),
        "script_name": bool(request.script_name),
        "alwayson_scripts": bool(other_scripts(request.alwayson_scripts)),  # Dynamic Prompts is understood
        "refiner_checkpoint": bool(request.refiner_checkpoint), "firstpass_image": bool(request.firstpass_image),
    }
    for field, is_on in switched_on.items():
        if is_on:
            raise RecipeError(
                f"{field}: not supported by sfumato yet (got {getattr(request, field)!r}); leave it unset or "
                f"false/0/empty", field=field,
            )


def with_infotext(request: Txt2ImgRequest) -> Txt2ImgRequest:
    """A1111's `infotext` field: its values fill the fields the request did not set itself."""
    if not request.infotext:
        return request
    given = request.model_fields_set
    params = parse_infotext(request.infotext, split_sizes=True)
    updates: dict[str, Any] = {}
    for key, field, kind in _INFOTEXT_FIELDS:
        if key in params and field not in given:
            try:
                updates[field] = kind(params[key])
            except ValueError as error:
                raise RecipeError(f"infotext: {key} {params[key]!r} is not a {kind.__name__}", field="infotext") \
                    from error
    return request.model_copy(update=updates)


def recipe_fields(request: Txt2ImgRequest, options: dict[str, Any]) -> dict[str, Any]:
    """Recipe fields for `studio.new_recipe`: A1111 names -> sfumato names; overrides, then options, fill in.
    A field left None is filled by `new_recipe` from the model family's defaults."""
    overrides = request.override_settings or {}
    clip_skip = overrides.get("CLIP_stop_at_last_layers", options.get("CLIP_stop_at_last_layers", 1))
    return {
        "model": overrides.get("sd_model_checkpoint") or options.get("sd_model_checkpoint"),
        "prompt": request.prompt or "",
        "negative_prompt": request.negative_prompt or "",
        "seed": -1 if request.seed is None else request.seed,
        # A1111 runs "Euler" when sampler_name is missing, because sampler_index defaults to it.
        "sampler": request.sampler_name or request.sampler_index or "Euler",
        "schedule_type": request.scheduler or "Automatic",
        "steps": request.steps if request.steps is not None else 50,
        "guidance_scale": request.cfg_scale if request.cfg_scale is not None else 7.0,
        # A1111 draws every model at 512 px when a request names no size; sfumato gives such a request the
        # model's native size (64 px for the embedded model, 1024 for SDXL), as its CLI and web studio do.
        "width": request.width if "width" in request.model_fields_set else None,
        "height": request.height if "height" in request.model_fields_set else None,
        "batch_size": request.batch_size or 1,
        "batch_count": request.n_iter or 1,
        "clip_skip": clip_skip,
        **variation_fields(request),
    }


def variation_fields(request: Txt2ImgRequest) -> dict[str, Any]:
    """A1111's subseed / subseed_strength (a variation only when the strength is not 0; -1 picks a subseed) and
    seed_resize_from_w / _h."""
    fields: dict[str, Any] = {}
    if request.subseed_strength:
        fields |= {"subseed": -1 if request.subseed is None else request.subseed,
                   "subseed_strength": request.subseed_strength}
    if (request.seed_resize_from_w or 0) > 0 and (request.seed_resize_from_h or 0) > 0:  # A1111: both > 0, or off
        fields |= {"seed_resize_from_width": request.seed_resize_from_w,
                   "seed_resize_from_height": request.seed_resize_from_h}
    return fields


def info_json(recipe: Recipe, pictures: list[tuple[Recipe, str]], *, styles: list[str], started: datetime) -> str:
    """A1111's `info`: `json.dumps(Processed.js())` for a run of `recipe` that made `pictures` (recipe, infotext)."""
    seeds = [picture.seed for picture, _ in pictures] or [recipe.seed]
    count = max(len(pictures), 1)
    # A template's pictures each have their own prompt; `prompt` is the template, as the extension leaves it.
    prompts = [picture.prompt for picture, _ in pictures] or [recipe.prompt] * count
    negatives = [picture.negative_prompt for picture, _ in pictures] or [recipe.negative_prompt] * count
    # A1111 reports a subseed (seed + i) even without a variation; sfumato reports what each picture used.
    subseeds = [picture.subseed if picture.subseed is not None else -1 for picture, _ in pictures] or [-1]
    return json.dumps({
        "prompt": recipe.prompt_template or recipe.prompt, "all_prompts": prompts,
        "negative_prompt": recipe.negative_prompt_template or recipe.negative_prompt,
        "all_negative_prompts": negatives,
        "seed": seeds[0], "all_seeds": seeds, "subseed": subseeds[0], "all_subseeds": subseeds,
        "subseed_strength": recipe.subseed_strength, "width": recipe.width, "height": recipe.height,
        "sampler_name": recipe.sampler,
        "cfg_scale": recipe.guidance_scale, "steps": recipe.steps, "batch_size": recipe.batch_size,
        "restore_faces": False, "face_restoration_model": None, "sd_model_name": recipe.model,
        "sd_model_hash": recipe.model_hash, "sd_vae_name": None, "sd_vae_hash": None,
        "seed_resize_from_w": recipe.seed_resize_from_width or -1,
        "seed_resize_from_h": recipe.seed_resize_from_height or -1, "denoising_strength": recipe.denoising_strength,
        "extra_generation_params": {"Schedule type": recipe.schedule_type}, "index_of_first_image": 0,
        "infotexts": [infotext for _, infotext in pictures], "styles": styles,
        "job_timestamp": started.strftime("%Y%m%d%H%M%S"), "clip_skip": recipe.clip_skip,
        "is_using_inpainting_conditioning": False, "version": f"sfumato-{__version__}",
    })
