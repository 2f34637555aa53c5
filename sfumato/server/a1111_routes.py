"""A1111-compatible routes under /sdapi/v1: txt2img (through the job queue), options, models, samplers, progress...

Field names, defaults and shapes follow A1111 v1.10.1 (reference/a1111_api.md) so its clients work unchanged.
"""

from __future__ import annotations

import base64
import os
import threading
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel

from sfumato.errors import SfumatoError
from sfumato.infotext import parse_infotext
from sfumato.jobs import Job, JobState
from sfumato.models.library import ModelKind
from sfumato.models.lora_files import read_lora_metadata
from sfumato.sampler_names import SAMPLER_ALIASES, SAMPLER_NAMES, SCHEDULE_TYPE_ALIASES, SCHEDULE_TYPE_NAMES
from sfumato.server.a1111 import Txt2ImgRequest, info_json, recipe_fields, refuse_unsupported, with_infotext
from sfumato.server.a1111_dynamic import template_mode
from sfumato.server.a1111_embeddings import embeddings_response
from sfumato.server.a1111_images import hires_fields
from sfumato.server.deps import LimitsDep, StudioDep
from sfumato.server.pngs import decode_base64_image, read_picture_bytes, text_chunks
from sfumato.prompt.request import PromptOptions, recipes_for
from sfumato.prompt.styles import load_styles
from sfumato.recipe import Recipe
from sfumato.server.limits import Limits
from sfumato.studio import Studio

router = APIRouter(prefix="/sdapi/v1", tags=["A1111 API"])


class JobFailed(SfumatoError):
    """A queued generation failed; the message is the job's reason."""

    http_status = 500


class A1111State:
    """The A1111 options this server answers with; POST /options changes the defaults of later A1111 requests."""

    def __init__(self, default_model: str) -> None:
        self._lock = threading.Lock()
        self._options: dict[str, Any] = {
            "sd_model_checkpoint": default_model, "sd_checkpoint_hash": None, "CLIP_stop_at_last_layers": 1,
            "samples_format": "png", "sd_vae": "Automatic", "send_seed": True, "eta_noise_seed_delta": 0,
            "randn_source": "CPU",
        }

    def options(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._options)

    def update(self, changes: dict[str, Any]) -> None:
        with self._lock:
            self._options.update(changes)


def _state(request: Request) -> A1111State:
    state: A1111State = request.app.state.a1111
    return state


class Txt2ImgResponse(BaseModel):
    images: list[str]
    parameters: dict[str, Any]
    info: str


@router.post("/txt2img")
async def txt2img(payload: Txt2ImgRequest, request: Request, studio: StudioDep, limits: LimitsDep) -> Txt2ImgResponse:
    """Queue the request as a Recipe (the same queue as /api/jobs) and answer when its pictures are made."""
    payload = with_infotext(payload)
    refuse_unsupported(payload)
    fields = recipe_fields(payload, _state(request).options())
    fields |= hires_fields(payload)  # enable_hr (issue #7)
    # Styles, then dynamic prompts in random mode, as A1111 with the sd-dynamic-prompts extension (issue #5):
    # a template becomes one job per picture, each with its resolved prompt.
    recipes = template_recipes(studio, limits, payload, fields)
    jobs, files = await run_recipes(studio, recipes, save=bool(payload.save_images), what="txt2img")
    pictures = [(meta.recipe, meta.infotext or "") for meta in map(read_picture_bytes, files)]
    images = [base64.b64encode(data).decode() for data in files] if payload.send_images else []
    info = info_json(recipes[0], pictures, styles=payload.styles or [], started=jobs[0].started_at or jobs[0].created_at)
    return Txt2ImgResponse(images=images, parameters=payload.model_dump(), info=info)


def template_recipes(studio: Studio, limits: Limits, payload: Txt2ImgRequest, fields: dict[str, Any]) -> list[Recipe]:
    """Styles, then dynamic prompts, as A1111 with the sd-dynamic-prompts extension (issue #5): a template
    becomes one Recipe per picture, each with its resolved prompt; every one is checked against the limits."""
    options = PromptOptions(styles=tuple(payload.styles or ()), mode=template_mode(payload.alwayson_scripts))
    recipes = recipes_for(fields, options, home=studio.settings.home, new_recipe=studio.new_recipe)
    limits.check_count(len(recipes))
    return [limits.check(recipe) for recipe in recipes]


async def run_recipes(studio: Studio, recipes: list[Recipe], *, save: bool, what: str) -> tuple[list[Job], list[bytes]]:
    """Queue every recipe (the one queue), wait for each off the event loop, and return the jobs and their PNGs."""
    jobs = [studio.jobs.submit(recipe, requested_by="sdapi", save=save) for recipe in recipes]
    files: list[bytes] = []
    for index, job in enumerate(jobs):
        jobs[index] = job = await anyio.to_thread.run_sync(studio.jobs.wait, job.id)  # never wait on the loop
        if job.state is JobState.FAILED:
            raise JobFailed(f"{what}: {job.error}")
        files.extend(_job_files(studio, job))
    return jobs, files


def _job_files(studio: Studio, job: Job) -> list[bytes]:
    if job.save:
        return [studio.catalog.get(pid).absolute_path(studio.catalog.root).read_bytes() for pid in job.picture_ids]
    kept = studio.jobs.images(job.id)
    return [kept[position] for position in sorted(kept)]


@router.get("/options")
def get_options(request: Request) -> dict[str, Any]:
    return _state(request).options()


@router.post("/options")
def set_options(request: Request, studio: StudioDep, changes: Annotated[dict[str, Any], Body()]) -> None:
    """Change option values; `sd_model_checkpoint` must name a model in the library (title, name or hash)."""
    if "sd_model_checkpoint" in changes:
        entry = studio.library.find(str(changes["sd_model_checkpoint"]), with_hashes=False)
        changes = {**changes, "sd_model_checkpoint": entry.title,
                   "sd_checkpoint_hash": entry.hashes.sha256 if entry.hashes else None}
    _state(request).update(changes)


@router.get("/sd-models")
def sd_models(studio: StudioDep) -> list[dict[str, Any]]:
    return [
        {"title": e.title, "model_name": e.name, "hash": e.hashes.autov2 if e.hashes else None,
         "sha256": e.hashes.sha256 if e.hashes else None, "filename": str(e.path) if e.path else e.name,
         "config": None}
        for e in studio.library.scan(ModelKind.CHECKPOINT) if e.error is None
    ]


@router.post("/refresh-checkpoints")
def refresh_checkpoints() -> None:
    """Nothing to do: the library scans its folders on every request."""


@router.get("/samplers")
def samplers() -> list[dict[str, Any]]:
    aliases: dict[str, list[str]] = {}
    for alias, name in SAMPLER_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    return [
        {"name": name, "aliases": aliases.get(name, []),
         "options": {"scheduler": s.default_schedule} if s.default_schedule else {}}
        for name, s in SAMPLER_NAMES.items()
    ]


@router.get("/schedulers")
def schedulers() -> list[dict[str, Any]]:
    aliases: dict[str, list[str]] = {}
    for alias, label in SCHEDULE_TYPE_ALIASES.items():
        aliases.setdefault(label, []).append(alias)
    return [
        {"name": min(aliases.get(label, [label]), key=len).lower().replace(" ", "_"), "label": label,
         "aliases": None, "default_rho": 7.0 if label == "Karras" else -1, "need_inner_model": False}
        for label in SCHEDULE_TYPE_NAMES
    ]


@router.get("/loras")
def loras(studio: StudioDep) -> list[dict[str, Any]]:
    return [{"name": e.name, "alias": e.name, "path": str(e.path),
             "metadata": read_lora_metadata(e.path) if e.path is not None and e.path.is_file() else {}}
            for e in studio.library.scan(ModelKind.LORA)]


@router.post("/refresh-loras")
def refresh_loras() -> None:
    """Nothing to do: the library scans its folders on every request."""


@router.get("/embeddings")
def embeddings(request: Request, studio: StudioDep) -> dict[str, Any]:
    return embeddings_response(studio.library, str(_state(request).options()["sd_model_checkpoint"]))


@router.get("/prompt-styles")
def prompt_styles(studio: StudioDep) -> list[dict[str, str]]:
    return [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
            for s in load_styles(studio.settings.home)]


router.add_api_route("/styles", prompt_styles, methods=["GET"], summary="Prompt styles (same as /prompt-styles)")


@router.get("/progress")
def progress(studio: StudioDep, skip_current_image: bool = False) -> dict[str, Any]:
    """The running job's progress, with `current_image` the live preview (base64 PNG, as A1111 sends it)."""
    job = studio.jobs.current()
    queued = len(studio.jobs.list_jobs([JobState.QUEUED], limit=1000))
    live = job.progress if job is not None else None
    state = {"skipped": False, "interrupted": False, "stopping_generation": False,
             "job": f"task({job.id})" if job else "", "job_count": job.recipe.batch_count if job else 0,
             "job_timestamp": (job.started_at or job.created_at).strftime("%Y%m%d%H%M%S") if job else "0",
             "job_no": live.batch if live else 0, "sampling_step": live.step if live else 0,
             "sampling_steps": live.steps if live else 0, "queued": queued}
    return {"progress": live.fraction if live else 0.0, "eta_relative": (live.eta_s or 0.0) if live else 0.0,
            "state": state, "current_image": None if skip_current_image or live is None or live.preview is None
            else live.preview.split(",", 1)[1],
            "textinfo": None}


@router.post("/interrupt")
def interrupt(studio: StudioDep) -> dict[str, Any]:
    studio.jobs.interrupt()
    return {}


@router.post("/skip")
def skip(studio: StudioDep) -> None:
    studio.jobs.skip()


class PngInfoRequest(BaseModel):
    image: str


@router.post("/png-info")
def png_info(payload: PngInfoRequest) -> dict[str, Any]:
    """The infotext a picture carries, parsed as A1111 does; other text chunks go to `items`."""
    if not payload.image:
        return {"info": "", "items": {}, "parameters": {}}
    data = decode_base64_image(payload.image)
    chunks = text_chunks(data)
    info = chunks.pop("parameters", None)
    if info is None:
        try:
            info = read_picture_bytes(data).infotext or ""
        except SfumatoError:
            info = ""  # A1111 answers an image without a recipe with an empty info
    return {"info": info, "items": chunks, "parameters": parse_infotext(info, split_sizes=True) if info else {}}


@router.get("/memory")
def memory() -> dict[str, Any]:
    """RAM of this machine; CUDA figures are not read here, so the web process never imports torch."""
    try:
        page, total, free = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_AVPHYS_PAGES")
        ram: dict[str, Any] = {"free": free * page, "used": (total - free) * page, "total": total * page}
    except (ValueError, OSError, AttributeError):
        ram = {"error": "unavailable"}
    return {"ram": ram, "cuda": {"error": "unavailable"}}


@router.get("/scripts")
def scripts() -> dict[str, list[str]]:
    return {"txt2img": [], "img2img": []}


