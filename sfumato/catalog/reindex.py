"""Index rows from picture files alone: the file name (id, time, seed), the embedded recipe, the bytes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sfumato.catalog.records import PictureRecord, SkippedFile
from sfumato.catalog.store import (
    FileFacts,
    PictureName,
    collection_of,
    file_facts,
    parse_picture_name,
    validate_collection,
    walk_pictures,
)
from sfumato.errors import SfumatoError
from sfumato.picture_file import read_metadata
from sfumato.recipe import Recipe


def build_record(recipe: Recipe, name: PictureName, relative: str, facts: FileFacts) -> PictureRecord:
    """The row for one picture file; `add` and `reindex` both build it here so they agree field by field."""
    return PictureRecord(
        id=name.picture_id,
        path=relative,
        collection=collection_of(relative),
        created_at=name.created_at,
        model=recipe.model,
        model_hash=recipe.model_hash,
        sampler=recipe.sampler,
        schedule_type=recipe.schedule_type,
        seed=recipe.seed,
        steps=recipe.steps,
        guidance_scale=recipe.guidance_scale,
        width=recipe.width,
        height=recipe.height,
        prompt=recipe.prompt,
        negative_prompt=recipe.negative_prompt,
        recipe=recipe,
        file_sha256=facts.sha256,
        file_size=facts.size,
        file_mtime_ns=facts.mtime_ns,
    )


def record_from_file(root: Path, path: Path) -> PictureRecord:
    """Read one picture file into a record; raises SfumatoError or OSError when it cannot be indexed."""
    relative = path.relative_to(root).as_posix()
    validate_collection(collection_of(relative))
    recipe = read_metadata(path).recipe
    facts = file_facts(path)
    name = parse_picture_name(path.name)
    if name is None:
        # A file the catalog did not name (copied in by hand): its content gives a stable id and its
        # mtime the time, so rebuilding the index twice gives the same row.
        created = datetime.fromtimestamp(facts.mtime_ns // 1_000_000_000, UTC)
        name = PictureName(created, recipe.seed, facts.sha256[:16])
    return build_record(recipe, name, relative, facts)


@dataclass(frozen=True)
class FileScan:
    records: tuple[PictureRecord, ...]
    unchanged: int
    skipped: tuple[SkippedFile, ...]


def scan_files(root: Path, known: Mapping[str, tuple[int, int]]) -> FileScan:
    """Read every picture under root, except files whose (size, mtime) equals `known[path]`."""
    records: list[PictureRecord] = []
    skipped: list[SkippedFile] = []
    unchanged = 0
    for path in walk_pictures(root):
        relative = path.relative_to(root).as_posix()
        try:
            stat = path.stat()
            if known.get(relative) == (stat.st_size, stat.st_mtime_ns):
                unchanged += 1
                continue
            records.append(record_from_file(root, path))
        except (SfumatoError, OSError, ValueError) as error:
            # ValueError covers pydantic's ValidationError from a recipe that no longer validates.
            skipped.append(SkippedFile(path=relative, reason=str(error) or type(error).__name__))
    return FileScan(tuple(records), unchanged, tuple(skipped))
