"""The catalog: picture files under a library folder (the truth) and the SQLite index that finds them."""

from __future__ import annotations

from sfumato.catalog.catalog import Catalog
from sfumato.catalog.errors import InvalidCollectionName, PictureNotFound
from sfumato.catalog.records import PictureRecord, ReindexReport, SearchFilters, SkippedFile

__all__ = [
    "Catalog",
    "InvalidCollectionName",
    "PictureNotFound",
    "PictureRecord",
    "ReindexReport",
    "SearchFilters",
    "SkippedFile",
]
