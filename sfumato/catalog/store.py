"""File layout of a library folder: collection names, picture file names, walking and hashing the files.

A collection is a folder under the root (nested with `/`); a picture is `<collection>/<name>.png` with a
name that carries when it was made (UTC), its seed and its id, so a rebuilt index gets the same ids.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Final

from sfumato.catalog.errors import InvalidCollectionName

DEFAULT_COLLECTION: Final = "unsorted"
INDEX_NAME: Final = "index.sqlite3"
MAX_COLLECTION_LENGTH: Final = 200
# Characters Windows refuses in file names; libraries get copied to and synced with other machines.
_FORBIDDEN_CHARACTERS: Final = frozenset('\\<>:"|?*')
_NAME_PATTERN: Final = re.compile(r"^(\d{8}-\d{6})-(\d+)-([0-9a-f]{16})\.png$")
_NAME_TIME_FORMAT: Final = "%Y%m%d-%H%M%S"


def validate_collection(name: str) -> str:
    """Return `name` if it is a safe relative folder path, else raise InvalidCollectionName."""
    problem = _collection_problem(name)
    if problem is not None:
        raise InvalidCollectionName(
            f"collection: {problem} (got {name!r})",
            hint="use names like 'unsorted' or 'workshops/2026-11' ('/' between parts, no '..')",
        )
    return name


def _collection_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if len(name) > MAX_COLLECTION_LENGTH:
        return f"must be at most {MAX_COLLECTION_LENGTH} characters"
    if name.startswith("/"):
        return "must be relative to the library, not an absolute path"
    for part in name.split("/"):
        if not part:
            return "must not have empty parts (leading, trailing or doubled '/')"
        if part in (".", ".."):
            return "must not contain '.' or '..' parts"
        if part.startswith("."):
            return "parts must not start with '.' (hidden folders are not indexed)"
        if not part.isprintable():
            return "must contain printable characters only"
        if bad := sorted(set(part) & _FORBIDDEN_CHARACTERS):
            return f"must not contain {' '.join(bad)} (only '/' separates parts)"
        if part != part.strip():
            return "parts must not start or end with whitespace"
    return None


@dataclass(frozen=True)
class PictureName:
    """What a catalog-written file name says: creation time (UTC, whole seconds), seed and picture id."""

    created_at: datetime
    seed: int
    picture_id: str

    @property
    def filename(self) -> str:
        return f"{self.created_at.strftime(_NAME_TIME_FORMAT)}-{self.seed}-{self.picture_id}.png"


def new_picture_name(seed: int, now: datetime) -> PictureName:
    """A fresh name; 64 random bits make an id collision unlikely below billions of pictures."""
    return PictureName(now.astimezone(UTC).replace(microsecond=0), seed, secrets.token_hex(8))


def parse_picture_name(filename: str) -> PictureName | None:
    """The parts of a name the catalog wrote, or None for any other file name."""
    match = _NAME_PATTERN.match(filename)
    if match is None:
        return None
    try:
        created = datetime.strptime(match.group(1), _NAME_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return PictureName(created, int(match.group(2)), match.group(3))


def relative_path(collection: str, filename: str) -> str:
    return f"{collection}/{filename}"


def absolute_path(root: Path, relative: str) -> Path:
    return root.joinpath(*PurePosixPath(relative).parts)


def collection_of(relative: str) -> str:
    """The collection (folder) of a root-relative path; '' for a file directly under the root."""
    parent = str(PurePosixPath(relative).parent)
    return "" if parent == "." else parent


def sidecar_path(picture: Path) -> Path:
    """The YAML sidecar `picture_file.write_picture` writes beside a picture: `<stem>.yaml`."""
    return picture.with_suffix(".yaml")


def walk_pictures(root: Path) -> Iterator[Path]:
    """Every `*.png` under root in sorted order, skipping hidden files and folders (temporary files) and
    X/Y/Z grid sheets (`*.grid.png`: many pictures on one sheet, not one picture with one recipe)."""
    for directory, folders, names in os.walk(root):
        folders[:] = sorted(folder for folder in folders if not folder.startswith("."))
        for name in sorted(names):
            lower = name.lower()
            if lower.endswith(".png") and not lower.endswith(".grid.png") and not name.startswith("."):
                yield Path(directory) / name


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    mtime_ns: int


def file_facts(path: Path) -> FileFacts:
    """Hash and stat a file (hash first, stat after, so the facts describe the bytes that were hashed)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        stat = os.fstat(handle.fileno())
    return FileFacts(digest, stat.st_size, stat.st_mtime_ns)


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC ISO text, so SQL string comparison orders times correctly. Naive means UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")
