"""Catalog.reindex and the startup check: the index is rebuilt from the picture files alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from sfumato.catalog import Catalog, PictureRecord
from sfumato.catalog.store import file_facts, sidecar_path
from sfumato.picture import Picture
from sfumato.picture_file import write_picture


def everything(catalog: Catalog) -> list[PictureRecord]:
    return sorted(catalog.search(limit=1000), key=lambda record: record.id)


def fill(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    catalog.add(picture("an otter", seed=1, sampler="Euler a", negative_prompt="blurry"))
    catalog.add(picture("a heron", seed=2, model="other-model", guidance_scale=4.5), collection="birds")
    catalog.add(picture("a nested heron", seed=3), collection="workshops/2026-11")


def test_reindex_after_deleting_the_index_gives_the_same_records(
    library: Path, picture: Callable[..., Picture]
) -> None:
    with Catalog.open(library) as catalog:
        fill(catalog, picture)
        before = everything(catalog)
        collections = catalog.collections()
    (library / "index.sqlite3").unlink()
    with Catalog.open(library, check=False) as catalog:
        assert catalog.count() == 0
        report = catalog.reindex()
        assert (report.indexed, report.removed, report.skipped) == (3, 0, ())
        assert everything(catalog) == before
        assert catalog.collections() == collections
        assert {r.id for r in catalog.search("heron")} == {r.id for r in before if "heron" in r.prompt}
    (library / "index.sqlite3").unlink()
    with Catalog.open(library) as catalog:  # the startup check rebuilds it too
        assert everything(catalog) == before


def test_reindex_is_idempotent(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    fill(catalog, picture)
    before = everything(catalog)
    first, second = catalog.reindex(), catalog.reindex()
    assert first == second and first.indexed == 3
    assert everything(catalog) == before
    quick = catalog.reindex(changed_only=True)
    assert (quick.indexed, quick.unchanged, quick.removed) == (0, 3, 0)
    assert everything(catalog) == before
    assert catalog.count("otter") == 1  # the text index was rebuilt, not doubled


def test_file_without_row_gets_indexed(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    catalog.add(picture("already here"))
    dropped = catalog.root / "imports" / "from-another-machine.png"
    dropped.parent.mkdir()
    write_picture(dropped, picture("a capybara", seed=99), sidecar=True)
    assert catalog.search("capybara") == []
    report = catalog.reindex(changed_only=True)
    assert (report.indexed, report.unchanged) == (1, 1)
    [record] = catalog.search("capybara")
    assert (record.collection, record.path, record.seed) == (
        "imports",
        "imports/from-another-machine.png",
        99,
    )
    assert record.id == file_facts(dropped).sha256[:16]
    catalog.reindex()
    assert catalog.search("capybara") == [record]  # the same id and time again


def test_rows_whose_file_is_gone_are_removed(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    record = catalog.add(picture("vanishing"))
    path = record.absolute_path(catalog.root)
    path.unlink()
    sidecar_path(path).unlink()
    report = catalog.reindex(changed_only=True)
    assert report.removed == 1 and catalog.count() == 0 and catalog.search("vanishing") == []


def test_file_moved_by_hand_keeps_its_id(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    record = catalog.add(picture("wanderer"))
    target = catalog.root / "elsewhere" / record.path.rsplit("/", 1)[1]
    target.parent.mkdir()
    record.absolute_path(catalog.root).rename(target)
    catalog.reindex(changed_only=True)
    moved = catalog.get(record.id)
    assert (moved.collection, moved.prompt) == ("elsewhere", "wanderer")


def test_unreadable_files_are_counted_and_listed_not_fatal(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    good = catalog.add(picture("fine"))
    (catalog.root / "junk").mkdir()
    Image.new("RGB", (8, 8)).save(catalog.root / "junk" / "no-metadata.png")
    (catalog.root / "junk" / "not-a-png.png").write_bytes(b"hello")
    write_picture(catalog.root / "at-the-root.png", picture("root level"), sidecar=False)
    (catalog.root / ".trash").mkdir()
    Image.new("RGB", (8, 8)).save(catalog.root / ".trash" / "hidden.png")
    report = catalog.reindex()
    assert report.indexed == 1
    assert sorted(skipped.path for skipped in report.skipped) == [
        "at-the-root.png", "junk/no-metadata.png", "junk/not-a-png.png",
    ]  # fmt: skip
    assert all(skipped.reason for skipped in report.skipped)
    assert [r.id for r in catalog.search()] == [good.id]


def test_copied_file_with_same_id_is_skipped_not_fatal(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    record = catalog.add(picture("twin"))
    copy = catalog.root / "copies" / record.path.rsplit("/", 1)[1]
    copy.parent.mkdir()
    copy.write_bytes(record.absolute_path(catalog.root).read_bytes())
    report = catalog.reindex()
    assert [skipped.path for skipped in report.skipped] == [copy.relative_to(catalog.root).as_posix()]
    assert catalog.count() == 1


def test_file_without_row_after_a_crash_between_file_and_row(
    library: Path, picture: Callable[..., Picture]
) -> None:
    with Catalog.open(library) as catalog:
        record = catalog.add(picture("crash survivor"))
    connection = sqlite3.connect(library / "index.sqlite3")
    connection.execute("DELETE FROM pictures")  # as if the process died after the file was written
    connection.commit()
    connection.close()
    with Catalog.open(library) as catalog:
        assert catalog.get(record.id) == record
        assert [r.id for r in catalog.search("survivor")] == [record.id]
