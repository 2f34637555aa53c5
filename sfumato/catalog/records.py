"""Catalog data that crosses to the API and CLI: PictureRecord, SearchFilters, ReindexReport (frozen)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sfumato.catalog.store import absolute_path, validate_collection
from sfumato.recipe import Recipe
from sfumato.sampler_names import canonical_sampler


class PictureRecord(BaseModel):
    """One indexed picture: where its file is, what its recipe says, and the file's hash, size and mtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="16 hex characters; also the last part of the file name.")
    path: str = Field(description="Relative to the library root, '/'-separated.")
    collection: str
    created_at: datetime = Field(description="UTC, whole seconds (as in the file name).")
    model: str
    model_hash: str | None
    sampler: str
    schedule_type: str
    seed: int
    steps: int
    guidance_scale: float
    width: int
    height: int
    prompt: str
    negative_prompt: str
    recipe: Recipe
    file_sha256: str
    file_size: int
    file_mtime_ns: int

    def absolute_path(self, root: Path) -> Path:
        return absolute_path(root, self.path)


class SearchFilters(BaseModel):
    """Exact-match filters for `Catalog.search`; every field left as None matches everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    sampler: str | None = None
    collection: str | None = Field(default=None, description="Also matches its sub-collections.")
    since: datetime | None = Field(default=None, description="Inclusive; a naive datetime is read as UTC.")
    until: datetime | None = Field(default=None, description="Exclusive; a naive datetime is read as UTC.")
    seed: int | None = Field(default=None, ge=0)

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, value: str | None) -> str | None:
        # Raises InvalidCollectionName (a SfumatoError), which pydantic lets through unwrapped.
        return None if value is None else validate_collection(value)

    @field_validator("sampler")
    @classmethod
    def _canonical_sampler(cls, value: str | None) -> str | None:
        # Rows store canonical names; an unknown name stays as typed and simply matches nothing.
        return None if value is None else canonical_sampler(value) or value

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SkippedFile(BaseModel):
    """A picture file reindex could not index, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    reason: str


class ReindexReport(BaseModel):
    """What `Catalog.reindex` did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indexed: int = Field(description="Files read and written to the index.")
    unchanged: int = Field(description="Files skipped because size and mtime matched their row.")
    removed: int = Field(description="Rows removed because their file is gone.")
    skipped: tuple[SkippedFile, ...] = ()
