"""Native API, input images: upload an init image or mask (kept by hash), fetch one back, and the job fields they give.

A job can name images uploaded before (`recipe.init_image_hash`) or carry them inline (`init_image`, `mask`,
base64); either way they are stored in the library's `.inputs/` before the Recipe is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from sfumato.catalog.inputs import InputImageMissing, decode_image, store_inputs
from sfumato.catalog.outpaint import parse_outpaint
from sfumato.server.deps import StudioDep
from sfumato.server.pngs import decode_base64_image
from sfumato.studio import Studio

router = APIRouter(prefix="/api", tags=["inputs"])
SHA256 = Path(pattern=r"^[0-9a-f]{64}$", description="sha256 of the image's pixels (64 hex characters).")
DEFAULT_STRENGTH = 0.75  # A1111's img2img default


class InputUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="The picture, base64 (a data: URI prefix is allowed).")
    kind: Literal["image", "mask"] = Field(default="image", description="'mask': white = repaint.")


class StoredInput(BaseModel):
    sha256: str
    width: int
    height: int


@router.post("/inputs", status_code=201)
def upload_input(upload: InputUpload, studio: StudioDep) -> StoredInput:
    """Keep an init image or mask in the library; use its sha256 as `init_image_hash` / `mask_hash`."""
    image = decode_image(decode_base64_image(upload.image, field="image"), field="image")
    return StoredInput(sha256=studio.inputs.put(image, kind=upload.kind), width=image.width, height=image.height)


@router.get("/inputs/{sha256}", response_class=FileResponse)
def get_input(sha256: Annotated[str, SHA256], studio: StudioDep) -> FileResponse:
    """A kept input image, as PNG."""
    path = studio.inputs.path(sha256)
    if not path.is_file():
        raise InputImageMissing(f"sha256: no input image {sha256!r} in this library")
    return FileResponse(path, media_type="image/png")


def job_image_fields(studio: Studio, recipe: dict[str, Any], *, init_image: str | None, mask: str | None,
                     outpaint: str | None) -> dict[str, Any]:
    """Recipe fields for a job's inline images: hashes, then the init image's size and A1111's strength if unset."""
    if init_image is None:
        named = recipe.get("init_image_hash")
        for field in ("init_image_hash", "mask_hash"):  # uploaded before: refuse a missing one now, not in the worker
            if isinstance(recipe.get(field), str):
                studio.inputs.open(str(recipe[field]))
        return {"denoising_strength": DEFAULT_STRENGTH} if named and recipe.get("denoising_strength") is None else {}
    init = decode_image(decode_base64_image(init_image, field="init_image"), field="init_image")
    mask_image = decode_image(decode_base64_image(mask, field="mask"), field="mask") if mask else None
    margins = parse_outpaint(outpaint) if outpaint else None
    stored = store_inputs(studio.inputs, init, mask=mask_image, outpaint=margins)
    fields = stored.fields()
    fields.setdefault("denoising_strength", DEFAULT_STRENGTH)
    if "width" not in recipe and "height" not in recipe:
        fields |= {"width": stored.width, "height": stored.height}
    if margins is not None and "masked_content" not in recipe:
        fields["masked_content"] = "fill"
    return {key: value for key, value in fields.items() if key not in recipe or key.endswith("_hash")}
