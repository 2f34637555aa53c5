"""`sfumato data import-captions`: captions from a CSV, JSON or SQLite export, written as `.txt` beside the images.

Rows name a file (a path relative to the dataset, or a bare file name, with or without extension) and its
caption. Each caption file is written atomically; images are never opened for writing.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput
from sfumato.train.dataset.folder import CAPTION_SUFFIX, image_files, subsets

FILE_COLUMNS: Final = ("file", "file_name", "filename", "image", "path", "name")
CAPTION_COLUMNS: Final = ("caption", "text", "prompt", "description", "tags")

Row = tuple[str, str]  # (file, caption)


@dataclass(frozen=True)
class ImportReport:
    written: tuple[str, ...]  # caption files written, relative to the dataset
    unchanged: tuple[str, ...]  # already held that caption
    unmatched: tuple[str, ...]  # rows naming no image of the dataset
    ambiguous: tuple[str, ...]  # rows whose bare name matches several images
    without_caption: tuple[str, ...]  # images no row mentions


def _pick(columns: Sequence[str], wanted: Sequence[str], what: str, source: Path) -> str:
    lowered = {c.lower(): c for c in columns}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    raise BadInput(f"import-captions: {source.name} has no {what} column; columns are {list(columns)}, "
                   f"expected one of {list(wanted)}")


def _csv_rows(source: Path) -> list[Row]:
    with source.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        columns = list(reader.fieldnames or [])
        file_col = _pick(columns, FILE_COLUMNS, "file", source)
        caption_col = _pick(columns, CAPTION_COLUMNS, "caption", source)
        return [(str(row[file_col] or ""), str(row[caption_col] or "")) for row in reader]


def _json_rows(source: Path) -> list[Row]:
    data = json.loads(source.read_text(encoding="utf-8"))
    if isinstance(data, dict):  # {"file.png": "caption", ...}
        return [(str(k), str(v)) for k, v in data.items()]
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        columns = sorted({key for row in data for key in row})
        file_col = _pick(columns, FILE_COLUMNS, "file", source)
        caption_col = _pick(columns, CAPTION_COLUMNS, "caption", source)
        return [(str(row.get(file_col) or ""), str(row.get(caption_col) or "")) for row in data]
    raise BadInput(f"import-captions: {source.name} must hold an object {{file: caption}} or a list of objects "
                   f"with file and caption keys, got {type(data).__name__}")


def _sqlite_rows(source: Path) -> list[Row]:
    # Read-only URI: the user's database is never written, not even its journal.
    connection = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            columns = [r[1] for r in connection.execute(f"PRAGMA table_info({quoted})")]
            try:
                file_col = _pick(columns, FILE_COLUMNS, "file", source)
                caption_col = _pick(columns, CAPTION_COLUMNS, "caption", source)
            except BadInput:
                continue
            query = f'SELECT "{file_col}", "{caption_col}" FROM {quoted}'
            return [(str(f or ""), str(c or "")) for f, c in connection.execute(query)]
    finally:
        connection.close()
    raise BadInput(f"import-captions: no table in {source.name} has a file column ({', '.join(FILE_COLUMNS)}) "
                   f"and a caption column ({', '.join(CAPTION_COLUMNS)}); tables: {tables}")


READERS: Final[Mapping[str, Callable[[Path], list[Row]]]] = MappingProxyType({
    ".csv": _csv_rows, ".json": _json_rows, ".sqlite": _sqlite_rows, ".sqlite3": _sqlite_rows, ".db": _sqlite_rows,
})


def read_rows(source: Path) -> list[Row]:
    reader = READERS.get(source.suffix.lower())
    if reader is None:
        raise BadInput(f"import-captions: FROM must end in one of {sorted(READERS)}, got {source.name!r}")
    if not source.is_file():
        raise BadInput(f"import-captions: no file at {str(source)!r}")
    return reader(source)


def _index(images: Iterable[Path], root: Path) -> dict[str, list[Path]]:
    """Lookup keys of each image: relative path, file name and stem (with and without extension)."""
    index: dict[str, list[Path]] = {}
    for image in images:
        rel = image.relative_to(root).as_posix()
        for key in {rel, str(Path(rel).with_suffix("")), image.name, image.stem}:
            index.setdefault(key.lower(), []).append(image)
    return index


def import_captions(root: Path, source: Path) -> ImportReport:
    """Write one caption file per matched row; report what matched, what did not, and images left uncaptioned."""
    root = Path(root)
    images = [image for subset in subsets(root) for image in image_files(subset)]
    index = _index(images, root)
    written: list[str] = []
    unchanged: list[str] = []
    unmatched: list[str] = []
    ambiguous: list[str] = []
    captioned: set[Path] = set()
    for name, caption in read_rows(source):
        key = name.strip().replace("\\", "/").lstrip("./").lower()
        matches = index.get(key, [])
        if len(set(matches)) != 1:
            (ambiguous if matches else unmatched).append(name)
            continue
        image = matches[0]
        captioned.add(image)
        target = image.with_suffix(CAPTION_SUFFIX)
        text = caption.strip()
        rel = target.relative_to(root).as_posix()
        if target.is_file() and target.read_text(encoding="utf-8", errors="replace").strip() == text:
            unchanged.append(rel)
            continue
        atomic_write_bytes(target, (text + "\n").encode("utf-8"))
        written.append(rel)
    missing = [i.relative_to(root).as_posix() for i in images if i not in captioned]
    return ImportReport(tuple(written), tuple(unchanged), tuple(unmatched), tuple(ambiguous), tuple(missing))


def report_json(report: ImportReport) -> dict[str, Any]:
    return {name: list(getattr(report, name)) for name in report.__dataclass_fields__}
