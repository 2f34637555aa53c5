"""Catalog.open, add, get, delete, move: files first, rows second, both kept in step."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from hashlib import sha256
from pathlib import Path

import pytest

from sfumato.catalog import Catalog, PictureNotFound
from sfumato.catalog.store import sidecar_path
from sfumato.errors import BadInput, CatalogError
from sfumato.picture import Picture
from sfumato.picture_file import read_metadata


def test_open_creates_index_in_wal_mode_with_migrations(library: Path) -> None:
    Catalog.open(library).close()
    connection = sqlite3.connect(library / "index.sqlite3")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [row[0] for row in connection.execute("SELECT version FROM schema_migrations")] == [1]
    connection.close()
    Catalog.open(library).close()  # reopening applies nothing twice


def test_add_writes_file_then_row(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    record = catalog.add(picture("an otter in watercolor", seed=1234, sampler="Euler a", steps=12))
    path = record.absolute_path(catalog.root)
    assert path.is_file() and sidecar_path(path).is_file()
    assert path.parent == catalog.root / "unsorted" and record.collection == "unsorted"
    assert re.fullmatch(r"\d{8}-\d{6}-1234-[0-9a-f]{16}\.png", path.name)
    assert path.name.endswith(f"-{record.id}.png")
    assert record.created_at.utcoffset() == timedelta(0)
    assert (record.seed, record.sampler, record.steps, record.prompt) == (
        1234,
        "Euler a",
        12,
        "an otter in watercolor",
    )
    assert record.file_sha256 == sha256(path.read_bytes()).hexdigest()
    assert record.file_size == path.stat().st_size
    assert read_metadata(path).recipe == record.recipe
    assert catalog.get(record.id) == record
    assert catalog.count() == 1


def test_names_never_collide_for_same_seed_same_second(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    records = [catalog.add(picture(seed=7)) for _ in range(5)]
    assert len({record.path for record in records}) == 5
    assert len({record.id for record in records}) == 5


def test_get_unknown_id_raises_picture_not_found(catalog: Catalog) -> None:
    with pytest.raises(PictureNotFound, match="nope") as caught:
        catalog.get("nope")
    assert (caught.value.exit_code, caught.value.http_status) == (3, 404)


def test_delete_removes_file_sidecar_and_row(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    keep = catalog.add(picture("keep me"))
    gone = catalog.add(picture("delete me"))
    path = gone.absolute_path(catalog.root)
    catalog.delete(gone.id)
    assert not path.exists() and not sidecar_path(path).exists()
    with pytest.raises(PictureNotFound):
        catalog.get(gone.id)
    assert catalog.search("delete") == []
    assert [record.id for record in catalog.search()] == [keep.id]
    with pytest.raises(PictureNotFound):
        catalog.delete(gone.id)


def test_move_moves_file_sidecar_and_row(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    record = catalog.add(picture("a heron"))
    moved = catalog.move(record.id, "workshops/2026-11")
    old, new = record.absolute_path(catalog.root), moved.absolute_path(catalog.root)
    assert not old.exists() and new.is_file() and sidecar_path(new).is_file()
    assert new.parent == catalog.root / "workshops" / "2026-11"
    assert catalog.get(record.id) == moved
    assert moved.model_copy(update={"path": record.path, "collection": record.collection}) == record
    assert [r.id for r in catalog.search("heron")] == [record.id]


def test_move_to_a_taken_name_is_refused_and_nothing_changes(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    record = catalog.add(picture("a heron"))
    blocker = catalog.root / "other" / record.path.rsplit("/", 1)[1]
    blocker.parent.mkdir()
    blocker.write_bytes(b"not mine")
    with pytest.raises(CatalogError, match="already has a file"):
        catalog.move(record.id, "other")
    assert catalog.get(record.id) == record and record.absolute_path(catalog.root).is_file()


def test_concurrent_adds_from_threads_all_land(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(lambda i: catalog.add(picture(f"thread picture {i}", seed=i)), range(40)))
    assert catalog.count() == 40 == len({record.id for record in records})
    assert {record.id for record in catalog.search(limit=100)} == {record.id for record in records}
    assert catalog.count("thread picture") == 40


def test_closed_catalog_raises_catalog_error(library: Path) -> None:
    catalog = Catalog.open(library)
    catalog.close()
    with pytest.raises(CatalogError):
        catalog.count()


def test_catalog_imports_no_torch() -> None:
    code = "import sfumato.catalog, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_move_to_its_own_collection_changes_nothing(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    record = catalog.add(picture("a heron"), collection="birds")
    assert catalog.move(record.id, "birds") == record == catalog.get(record.id)
    assert record.absolute_path(catalog.root).is_file()


def test_negative_limit_or_offset_is_bad_input(catalog: Catalog) -> None:
    with pytest.raises(BadInput, match="limit"):
        catalog.search(limit=-1)
    with pytest.raises(BadInput, match="offset"):
        catalog.search(offset=-5)


def test_reindex_during_adds_does_not_break_them(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        adds = [pool.submit(catalog.add, picture(f"busy {i}", seed=i)) for i in range(12)]
        reindexes = [pool.submit(catalog.reindex, changed_only=bool(i % 2)) for i in range(4)]
        records = [future.result() for future in adds]
        for future in reindexes:
            assert future.result().skipped == ()
    assert catalog.count("busy") == 12
    assert {catalog.get(record.id).path for record in records} == {record.path for record in records}
