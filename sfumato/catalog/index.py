"""SQL over the picture index: rows <-> PictureRecord, the FTS5 query and the filters.

Callers pass the connection and hold the transaction (see `Catalog._write`).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Final

from sfumato.catalog.records import PictureRecord, SearchFilters
from sfumato.catalog.store import utc_iso
from sfumato.recipe import Recipe

_COLUMNS: Final = (
    "id", "path", "collection", "created_at", "model", "model_hash", "sampler", "schedule_type", "seed",
    "steps", "guidance_scale", "width", "height", "prompt", "negative_prompt", "recipe_json", "file_sha256",
    "file_size", "file_mtime_ns",
)  # fmt: skip
_SELECT: Final = ", ".join(f"p.{column}" for column in _COLUMNS)
_INSERT: Final = (
    f"INSERT INTO pictures ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"  # --sql
)
_UPDATE_ALL: Final = ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS if column != "path")
# Prompt words count most, then the model name, then the negative prompt: a search for "blurry" should
# rank pictures of blurry things above pictures that only asked not to be blurry.
_RANK: Final = "bm25(pictures_fts, 10.0, 1.0, 5.0)"


def match_expression(text: str | None) -> str | None:
    """An FTS5 MATCH expression for text typed by a person, or None when it holds no word to look for.

    Every whitespace-separated token becomes a quoted string, so all must appear and `-`, `:`, `"`,
    `(`, `*`, AND/OR/NOT are never FTS syntax. No `*`: `otter` does not match `otters`.
    """
    if text is None:
        return None
    # FTS5 reads the query as a C string, so a NUL would cut a quoted token short; control characters
    # separate words in the unicode61 tokenizer anyway.
    printable = "".join(character if character.isprintable() else " " for character in text)
    tokens = [token for token in printable.split() if any(character.isalnum() for character in token)]
    if not tokens:
        return None
    return " ".join('"' + token.replace('"', '""') + '"' for token in tokens)


def row_values(record: PictureRecord) -> dict[str, object]:
    values = record.model_dump(exclude={"recipe", "created_at"})
    values["created_at"] = utc_iso(record.created_at)
    values["recipe_json"] = record.recipe.model_dump_json()
    return values


def record_from_row(row: sqlite3.Row) -> PictureRecord:
    values: dict[str, object] = dict(zip(_COLUMNS, row, strict=True))  # rows come from SELECT {_SELECT}
    values["created_at"] = datetime.fromisoformat(row["created_at"])
    values["recipe"] = Recipe.model_validate_json(row["recipe_json"])
    del values["recipe_json"]
    return PictureRecord.model_validate(values)


def upsert(connection: sqlite3.Connection, record: PictureRecord) -> None:
    """Insert, or replace the row at the same path; IntegrityError if the id is another path's."""
    connection.execute(f"{_INSERT} ON CONFLICT (path) DO UPDATE SET {_UPDATE_ALL}", row_values(record))


def fetch(connection: sqlite3.Connection, picture_id: str) -> PictureRecord | None:
    row = connection.execute(f"SELECT {_SELECT} FROM pictures p WHERE p.id = ?", (picture_id,)).fetchone()
    return None if row is None else record_from_row(row)


def delete(connection: sqlite3.Connection, picture_id: str) -> None:
    connection.execute("DELETE FROM pictures WHERE id = ?", (picture_id,))


def delete_paths(connection: sqlite3.Connection, paths: list[str]) -> None:
    connection.executemany("DELETE FROM pictures WHERE path = ?", [(path,) for path in paths])


def relocate(connection: sqlite3.Connection, picture_id: str, *, path: str, collection: str) -> None:
    connection.execute(
        "UPDATE pictures SET path = ?, collection = ? WHERE id = ?", (path, collection, picture_id)
    )


def file_states(connection: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """path -> (file size, mtime in ns) of every row, to tell unchanged files without reading them."""
    rows = connection.execute("SELECT path, file_size, file_mtime_ns FROM pictures")
    return {path: (size, mtime_ns) for path, size, mtime_ns in rows}


def rebuild_text_index(connection: sqlite3.Connection) -> None:
    connection.execute("INSERT INTO pictures_fts (pictures_fts) VALUES ('rebuild')")


def search(
    connection: sqlite3.Connection, match: str | None, filters: SearchFilters, *, limit: int, offset: int
) -> list[PictureRecord]:
    """Rows matching `match` (ranked by bm25, then newest) and `filters` (newest first)."""
    where, params = _where(match, filters)
    if match is None:
        sql = (
            f"SELECT {_SELECT} FROM pictures p{where}"
            " ORDER BY p.created_at DESC, p.rowid DESC LIMIT ? OFFSET ?"
        )
    else:
        sql = (
            f"SELECT {_SELECT} FROM pictures_fts JOIN pictures p ON p.rowid = pictures_fts.rowid{where}"
            f" ORDER BY {_RANK}, p.created_at DESC, p.rowid DESC LIMIT ? OFFSET ?"
        )
    rows = connection.execute(sql, [*params, limit, offset]).fetchall()
    return [record_from_row(row) for row in rows]


def count(connection: sqlite3.Connection, match: str | None, filters: SearchFilters) -> int:
    where, params = _where(match, filters)
    source = "pictures p" if match is None else "pictures_fts JOIN pictures p ON p.rowid = pictures_fts.rowid"
    total: int = connection.execute(f"SELECT count(*) FROM {source}{where}", params).fetchone()[0]
    return total


def collections(connection: sqlite3.Connection) -> list[tuple[str, int]]:
    rows = connection.execute(
        "SELECT collection, count(*) FROM pictures GROUP BY collection ORDER BY collection"
    )
    return [(name, number) for name, number in rows]


def _where(match: str | None, filters: SearchFilters) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if match is not None:
        clauses.append("pictures_fts MATCH ?")
        params.append(match)
    for column in ("model", "sampler", "seed"):
        value = getattr(filters, column)
        if value is not None:
            clauses.append(f"p.{column} = ?")
            params.append(value)
    if filters.collection is not None:
        # Sub-collections share the prefix "<collection>/"; substr avoids LIKE's % and _ wildcards.
        clauses.append("(p.collection = ? OR substr(p.collection, 1, ?) = ?)")
        params += [filters.collection, len(filters.collection) + 1, filters.collection + "/"]
    if filters.since is not None:
        clauses.append("p.created_at >= ?")
        params.append(utc_iso(filters.since))
    if filters.until is not None:
        clauses.append("p.created_at < ?")
        params.append(utc_iso(filters.until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
