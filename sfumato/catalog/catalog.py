"""Catalog: a library folder of PNG files (the truth) plus an SQLite index over them.

The index runs in WAL mode with one writer (BEGIN IMMEDIATE under a lock) and an FTS5 table on prompts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from sfumato.catalog import index
from sfumato.catalog.errors import PictureNotFound
from sfumato.catalog.migrate import migrate
from sfumato.catalog.records import PictureRecord, ReindexReport, SearchFilters, SkippedFile
from sfumato.catalog.reindex import build_record, scan_files
from sfumato.catalog.store import (
    DEFAULT_COLLECTION,
    INDEX_NAME,
    absolute_path,
    file_facts,
    new_picture_name,
    relative_path,
    sidecar_path,
    validate_collection,
)
from sfumato.errors import BadInput, CatalogError
from sfumato.picture import Picture
from sfumato.picture_file import write_picture

_BUSY_TIMEOUT_S = 10.0  # another process (CLI beside a running server) may hold the write lock briefly


class Catalog:
    """Pictures under `root/<collection>/`, indexed in `root/index.sqlite3`. Open with `Catalog.open`."""

    def __init__(self, root: Path, *, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self.root = root
        self._writer = writer
        self._reader = reader
        # One writer (BEGIN IMMEDIATE under this lock); reads use their own connection and see WAL snapshots.
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    @classmethod
    def open(cls, root: Path, *, check: bool = True) -> Catalog:
        """Create or open the library at `root`; `check` indexes files that have no row (and drops rows
        whose file is gone), which also rebuilds a deleted index."""
        database = root / INDEX_NAME
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not database.exists():
                # A WAL left beside a deleted database would be replayed into the new, empty one.
                for suffix in ("-wal", "-shm"):
                    database.with_name(INDEX_NAME + suffix).unlink(missing_ok=True)
            writer = _connect(database)
            writer.execute("PRAGMA journal_mode = WAL")
            migrate(writer)
            reader = _connect(database)
        except (OSError, sqlite3.Error) as error:
            raise CatalogError(f"library {str(root)!r}: cannot open the index ({error})") from error
        catalog = cls(root, writer=writer, reader=reader)
        if check:
            try:
                catalog.reindex(changed_only=True)
            except BaseException:
                catalog.close()
                raise
        return catalog

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def add(self, picture: Picture, *, collection: str = DEFAULT_COLLECTION) -> PictureRecord:
        """Write the picture's file (atomically, with its sidecar), then its row; returns the row."""
        validate_collection(collection)
        name = new_picture_name(picture.recipe.seed, datetime.now(UTC))
        relative = relative_path(collection, name.filename)
        path = absolute_path(self.root, relative)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            written = write_picture(path, picture, sidecar=True)
            facts = file_facts(written)
        except OSError as error:
            raise CatalogError(f"picture file {str(path)!r}: cannot be written ({error})") from error
        # File first, row second: a crash in between leaves a file without a row, which reindex repairs.
        # Upsert, because a reindex running meanwhile may have indexed the new file already.
        record = build_record(picture.recipe, name, relative, facts)
        with self._write() as connection:
            index.upsert(connection, record)
        return record

    def get(self, picture_id: str) -> PictureRecord:
        with self._read() as connection:
            record = index.fetch(connection, picture_id)
        if record is None:
            raise PictureNotFound(f"picture_id: no picture in the catalog has this id (got {picture_id!r})")
        return record

    def search(
        self,
        text: str | None = None,
        filters: SearchFilters | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> list[PictureRecord]:
        """Pictures whose prompt, negative prompt or model has every word of `text`, best match first
        (newest first without text), narrowed by `filters`."""
        if limit < 0 or offset < 0:
            raise BadInput(f"limit and offset: must be >= 0 (got limit={limit}, offset={offset})")
        match = index.match_expression(text)
        with self._read() as connection:
            return index.search(connection, match, filters or SearchFilters(), limit=limit, offset=offset)

    def count(self, text: str | None = None, filters: SearchFilters | None = None) -> int:
        """How many pictures `search` would find without a limit."""
        with self._read() as connection:
            return index.count(connection, index.match_expression(text), filters or SearchFilters())

    def collections(self) -> list[tuple[str, int]]:
        """(collection, number of pictures directly in it), sorted by name."""
        with self._read() as connection:
            return index.collections(connection)

    def move(self, picture_id: str, collection: str) -> PictureRecord:
        """Move a picture (file and sidecar) to another collection; returns the updated row."""
        validate_collection(collection)
        record = self.get(picture_id)
        if record.collection == collection:
            return record
        filename = record.path.rsplit("/", 1)[-1]
        target = relative_path(collection, filename)
        source_path, target_path = record.absolute_path(self.root), absolute_path(self.root, target)
        if target_path.exists():
            raise CatalogError(f"collection: {collection!r} already has a file named {filename!r}")
        # The files move inside the row's transaction: if a rename fails, the row is rolled back.
        with self._write() as connection:
            index.relocate(connection, picture_id, path=target, collection=collection)
            try:
                target_path.parent.mkdir(parents=True, exist_ok=True)
                source_path.rename(target_path)
                if sidecar_path(source_path).exists():
                    sidecar_path(source_path).rename(sidecar_path(target_path))
            except OSError as error:
                raise CatalogError(
                    f"picture {picture_id}: cannot move to {collection!r} ({error})"
                ) from error
        return record.model_copy(update={"path": target, "collection": collection})

    def delete(self, picture_id: str) -> None:
        """Remove a picture's file, sidecar and row."""
        record = self.get(picture_id)
        path = record.absolute_path(self.root)
        with self._write() as connection:
            index.delete(connection, picture_id)
            try:
                sidecar_path(path).unlink(missing_ok=True)
                path.unlink(missing_ok=True)
            except OSError as error:
                raise CatalogError(f"picture {picture_id}: cannot delete {str(path)!r} ({error})") from error

    def reindex(self, *, changed_only: bool = False) -> ReindexReport:
        """Rebuild the index from the files alone; idempotent. `changed_only` skips reading files whose
        size and mtime match their row (what `open` runs)."""
        with self._read() as connection:
            known = index.file_states(connection) if changed_only else {}
        scan = scan_files(self.root, known)  # slow part (reads and hashes files), outside the write lock
        skipped = list(scan.skipped)
        with self._write() as connection:
            # Checked under the write lock: a concurrent delete or move cannot slip in between.
            gone = [
                path for path in index.file_states(connection) if not absolute_path(self.root, path).is_file()
            ]
            index.delete_paths(connection, gone)
            indexed = 0
            for record in scan.records:
                if not record.absolute_path(self.root).is_file():
                    continue
                try:
                    index.upsert(connection, record)
                    indexed += 1
                except sqlite3.IntegrityError:
                    reason = f"picture id {record.id} is already indexed for another file (a copy?)"
                    skipped.append(SkippedFile(path=record.path, reason=reason))
            if not changed_only:
                index.rebuild_text_index(connection)
        return ReindexReport(
            indexed=indexed, unchanged=scan.unchanged, removed=len(gone), skipped=tuple(skipped)
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            connection = self._writer
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise CatalogError(
                    f"index {str(self.root / INDEX_NAME)!r}: cannot write ({error})"
                ) from error
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as error:
                if connection.in_transaction:
                    connection.rollback()
                if isinstance(error, sqlite3.Error):
                    raise CatalogError(
                        f"index {str(self.root / INDEX_NAME)!r}: write failed ({error})"
                    ) from error
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            try:
                yield self._reader
            except sqlite3.Error as error:
                raise CatalogError(f"index {str(self.root / INDEX_NAME)!r}: read failed ({error})") from error


def _connect(database: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never opened behind our back.
    connection = sqlite3.connect(
        database, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL is durable against app crashes
    return connection
