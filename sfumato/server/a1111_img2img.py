"""A1111's `/sdapi/v1/img2img`: init image (and mask) stored by hash, the request made a Recipe, run through the queue.

The same queue as /api/jobs and /sdapi/v1/txt2img: the route translates, submits and waits; the worker runs it.
"""

from __future__ import annotations

import base64
from typing import Any, cast

import anyio
from fastapi import APIRouter, Request

from sfumato.catalog.inputs import decode_image, store_inputs
from sfumato.errors import SfumatoError
from sfumato.jobs import Job, JobState
from sfumato.server.a1111 import info_json, recipe_fields, refuse_unsupported, with_infotext
from sfumato.server.a1111_images import LATENT_UPSCALE_MODES, PIXEL_UPSCALERS, Img2ImgRequest, img2img_fields
from sfumato.server.a1111_routes import JobFailed, Txt2ImgResponse
from sfumato.server.deps import LimitsDep, StudioDep
from sfumato.server.pngs import decode_base64_image, read_picture_bytes
from sfumato.server.styles import apply_styles, load_styles
from sfumato.studio import Studio

router = APIRouter(prefix="/sdapi/v1", tags=["A1111 API"])


class InitImageNotFound(SfumatoError):
    """img2img without an init image (A1111 answers 404 "Init image not found")."""

    exit_code = 2
    http_status = 404


@router.post("/img2img")
async def img2img(payload: Img2ImgRequest, request: Request, studio: StudioDep,
                  limits: LimitsDep) -> Txt2ImgResponse:
    """Keep the init image (and mask), queue the request as a Recipe and answer when its pictures are made."""
    payload = cast(Img2ImgRequest, with_infotext(payload))  # model_copy keeps the class
    refuse_unsupported(payload)
    if not payload.init_images:
        raise InitImageNotFound("init_images: Init image not found (give one base64 picture)")
    fields = recipe_fields(payload, request.app.state.a1111.options()) | img2img_fields(payload)
    init = decode_image(decode_base64_image(str(payload.init_images[0]), field="init_images"), field="init_images")
    mask = decode_image(decode_base64_image(payload.mask, field="mask"), field="mask") if payload.mask else None
    fields |= store_inputs(studio.inputs, init, mask=mask).fields()
    if payload.styles:
        fields["prompt"], fields["negative_prompt"] = apply_styles(
            fields["prompt"], fields["negative_prompt"], payload.styles, load_styles(studio.settings.home))
    recipe = limits.check(studio.new_recipe(fields))
    job = studio.jobs.submit(recipe, requested_by="sdapi", save=bool(payload.save_images))
    job = await anyio.to_thread.run_sync(studio.jobs.wait, job.id)  # the event loop never waits on the device
    files = finished_files(studio, job)
    pictures = [(meta.recipe, meta.infotext or "") for meta in map(read_picture_bytes, files)]
    if not payload.include_init_images:  # A1111 leaves the (large) images out of the echoed request
        payload = payload.model_copy(update={"init_images": None, "mask": None})
    return Txt2ImgResponse(
        images=[base64.b64encode(data).decode() for data in files] if payload.send_images else [],
        parameters=payload.model_dump(),
        info=info_json(recipe, pictures, styles=payload.styles or [], started=job.started_at or job.created_at),
    )


def finished_files(studio: Studio, job: Job) -> list[bytes]:
    """The PNG bytes a finished job made (from the library, or held in memory for unsaved jobs)."""
    if job.state is JobState.FAILED:
        raise JobFailed(f"img2img: {job.error}")
    if job.save:
        return [studio.catalog.get(pid).absolute_path(studio.catalog.root).read_bytes() for pid in job.picture_ids]
    kept = studio.jobs.images(job.id)
    return [kept[position] for position in sorted(kept)]


@router.get("/upscalers")
def upscalers() -> list[dict[str, Any]]:
    """The pixel upscalers (no upscaler models: sfumato runs none)."""
    return [{"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": 4}
            for name in PIXEL_UPSCALERS]


@router.get("/latent-upscale-modes")
def latent_upscale_modes() -> list[dict[str, str]]:
    return [{"name": name} for name in LATENT_UPSCALE_MODES]
