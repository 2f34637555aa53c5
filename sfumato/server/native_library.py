"""Native API, library: models, samplers, styles, pictures (search, get, file) and reading a recipe from a PNG."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from sfumato.catalog import PictureRecord, SearchFilters
from sfumato.errors import SfumatoError
from sfumato.infotext import recipe_to_infotext
from sfumato.models.library import ModelKind
from sfumato.recipe import Recipe
from sfumato.sampler_names import SAMPLER_ALIASES, SAMPLER_NAMES, SCHEDULE_TYPE_NAMES
from sfumato.server.deps import StudioDep
from sfumato.server.pngs import read_picture_bytes
from sfumato.prompt.styles import Style, load_styles

router = APIRouter(prefix="/api", tags=["library"])
PICTURE_ID = Path(pattern=r"^[0-9a-f]{16}$", description="A picture id (16 hex characters).")


class PictureFileRefused(SfumatoError):
    """A picture's file lies outside the library (a symlink pointing out): it is not served."""

    exit_code = 2
    http_status = 403


class ModelView(BaseModel):
    name: str
    title: str
    kind: str
    family: str | None
    is_builtin: bool
    is_default: bool = Field(description="the model a recipe without one gets (settings.default_model)")
    error: str | None = Field(description="why the model cannot be used, if it cannot")


class SamplerView(BaseModel):
    name: str
    aliases: list[str]
    default_schedule: str | None
    is_a1111: bool


class SamplersView(BaseModel):
    samplers: list[SamplerView]
    schedule_types: list[str]


class PictureView(BaseModel):
    """A library picture: where to fetch it, and the recipe (and infotext) that makes it again."""

    model_config = ConfigDict(frozen=True)

    id: str
    collection: str
    created_at: datetime
    width: int
    height: int
    seed: int
    prompt: str
    recipe: Recipe
    infotext: str
    url: str = Field(description="The PNG file, with its recipe inside.")

    @classmethod
    def of(cls, record: PictureRecord) -> PictureView:
        return cls(id=record.id, collection=record.collection, created_at=record.created_at, width=record.width,
                   height=record.height, seed=record.seed, prompt=record.prompt, recipe=record.recipe,
                   infotext=recipe_to_infotext(record.recipe), url=f"/api/pictures/{record.id}/file")


class PicturePage(BaseModel):
    total: int
    pictures: list[PictureView]


class PngRecipe(BaseModel):
    source: str = Field(description="where the recipe came from: sfumato-json, infotext, yaml, comfyui")
    recipe: Recipe
    infotext: str


@router.get("/models")
def list_models(studio: StudioDep, kind: ModelKind = ModelKind.CHECKPOINT) -> list[ModelView]:
    return [
        ModelView(name=e.name, title=e.title, kind=e.kind.value, family=e.family.value if e.family else None,
                  is_builtin=e.is_builtin, is_default=e.name == studio.settings.default_model, error=e.error)
        for e in studio.library.scan(kind)
    ]


@router.get("/samplers")
def list_samplers() -> SamplersView:
    """Sampler names (A1111 spelling) with their aliases, and the schedule types."""
    aliases: dict[str, list[str]] = {}
    for alias, name in SAMPLER_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    return SamplersView(
        samplers=[SamplerView(name=n, aliases=aliases.get(n, []), default_schedule=s.default_schedule,
                              is_a1111=s.is_a1111) for n, s in SAMPLER_NAMES.items()],
        schedule_types=list(SCHEDULE_TYPE_NAMES),
    )


@router.get("/styles")
def list_styles(studio: StudioDep) -> list[Style]:
    """Prompt styles from `styles.csv` in the sfumato home (A1111's format)."""
    return load_styles(studio.settings.home)


@router.get("/pictures")
def search_pictures(
    studio: StudioDep,
    q: Annotated[str | None, Query(max_length=500, description="Words in the prompt, negative or model.")] = None,
    model: str | None = None, sampler: str | None = None, collection: str | None = None,
    seed: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> PicturePage:
    """Library pictures, best match first (newest first without `q`)."""
    filters = SearchFilters(model=model, sampler=sampler, collection=collection, seed=seed)
    records = studio.catalog.search(q or None, filters, limit=limit, offset=offset)
    return PicturePage(total=studio.catalog.count(q or None, filters),
                       pictures=[PictureView.of(record) for record in records])


@router.get("/pictures/{picture_id}")
def get_picture(studio: StudioDep, picture_id: Annotated[str, PICTURE_ID]) -> PictureView:
    return PictureView.of(studio.catalog.get(picture_id))


@router.get("/pictures/{picture_id}/file", response_class=FileResponse)
def picture_file(studio: StudioDep, picture_id: Annotated[str, PICTURE_ID], download: bool = False) -> FileResponse:
    """The picture's PNG. Only files inside the library are served (symlinks are resolved before the check)."""
    record = studio.catalog.get(picture_id)
    root = studio.catalog.root.resolve()
    path = record.absolute_path(studio.catalog.root).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise PictureFileRefused(f"picture {picture_id}: its file is not inside the library, so it is not served")
    return FileResponse(path, media_type="image/png", filename=path.name,
                        content_disposition_type="attachment" if download else "inline")


@router.post("/png-info")
def recipe_from_png(
    data: Annotated[bytes, Body(media_type="application/octet-stream",
                                description="The picture file's bytes (PNG, JPEG or WebP).")],
) -> PngRecipe:
    """Read the recipe a picture file carries (sfumato JSON, A1111 infotext, YAML or ComfyUI graph)."""
    meta = read_picture_bytes(data)
    return PngRecipe(source=meta.source, recipe=meta.recipe, infotext=meta.infotext or recipe_to_infotext(meta.recipe))


