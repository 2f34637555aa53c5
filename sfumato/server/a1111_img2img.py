"""A1111's `/sdapi/v1/img2img`: init image (and mask) stored by hash, the request made a Recipe, run through the queue.

The same queue as /api/jobs and /sdapi/v1/txt2img: the route translates, submits and waits; the worker runs it.
"""

from __future__ import annotations

import base64
from typing import Any, cast

from fastapi import APIRouter, Request

from sfumato.catalog.inputs import decode_image, store_inputs
from sfumato.errors import SfumatoError
from sfumato.server.a1111 import info_json, recipe_fields, refuse_unsupported, with_infotext
from sfumato.server.a1111_images import LATENT_UPSCALE_MODES, PIXEL_UPSCALERS, Img2ImgRequest, img2img_fields
from sfumato.server.a1111_routes import Txt2ImgResponse, run_recipes, template_recipes
from sfumato.server.deps import LimitsDep, StudioDep
from sfumato.server.pngs import decode_base64_image, read_picture_bytes

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
    recipes = template_recipes(studio, limits, payload, fields)
    jobs, files = await run_recipes(studio, recipes, save=bool(payload.save_images), what="img2img")
    pictures = [(meta.recipe, meta.infotext or "") for meta in map(read_picture_bytes, files)]
    if not payload.include_init_images:  # A1111 leaves the (large) images out of the echoed request
        payload = payload.model_copy(update={"init_images": None, "mask": None})
    return Txt2ImgResponse(
        images=[base64.b64encode(data).decode() for data in files] if payload.send_images else [],
        parameters=payload.model_dump(),
        info=info_json(recipes[0], pictures, styles=payload.styles or [],
                       started=jobs[0].started_at or jobs[0].created_at),
    )


@router.get("/upscalers")
def upscalers() -> list[dict[str, Any]]:
    """The pixel upscalers (no upscaler models: sfumato runs none)."""
    return [{"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": 4}
            for name in PIXEL_UPSCALERS]


@router.get("/latent-upscale-modes")
def latent_upscale_modes() -> list[dict[str, str]]:
    return [{"name": name} for name in LATENT_UPSCALE_MODES]
