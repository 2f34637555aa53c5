"""Dataset preparation: captions imported from CSV/JSON/SQLite, kohya repeat folders, aspect buckets, tag shuffle
with kept leading tags, caption dropout."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path

import pytest
import torch
from PIL import Image

from sfumato.cli import main
from sfumato.errors import BadInput
from sfumato.train.dataset.buckets import Bucket, assign_bucket, fit_to_bucket, make_buckets
from sfumato.train.dataset.captions import augment_caption, shuffle_tags, tag_frequency
from sfumato.train.dataset.folder import read_dataset
from sfumato.train.dataset.import_captions import import_captions

ROWS = [("works/owl.png", "an owl, ink"), ("fox", "a fox, watercolor"), ("missing.png", "never written")]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "art"
    (root / "works").mkdir(parents=True)
    for name in ("works/owl.png", "fox.jpg", "hare.png"):
        Image.new("RGB", (64, 64), "blue").save(root / name)
    return root


def _csv(path: Path) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["File_Name", "Caption", "year"])
        writer.writerows([(f, c, 2020) for f, c in ROWS])
    return path


def _json(path: Path) -> Path:
    path.write_text(json.dumps([{"image": f, "text": c} for f, c in ROWS]))
    return path


def _sqlite(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE artists (name TEXT)")
    connection.execute("CREATE TABLE works (id INTEGER, filename TEXT, description TEXT)")
    connection.executemany("INSERT INTO works VALUES (?, ?, ?)", [(i, f, c) for i, (f, c) in enumerate(ROWS)])
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("make", [_csv, _json, _sqlite], ids=["csv", "json", "sqlite"])
def test_import_captions(make: object, dataset: Path, tmp_path: Path) -> None:
    source = make(tmp_path / f"export.{ {_csv: 'csv', _json: 'json', _sqlite: 'sqlite'}[make] }")  # type: ignore[index,operator]
    images = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in dataset.rglob("*.*")}
    report = import_captions(dataset, source)
    assert sorted(report.written) == ["fox.txt", "works/owl.txt"]
    assert report.unmatched == ("missing.png",)
    assert report.without_caption == ("hare.png",)
    assert (dataset / "works" / "owl.txt").read_text() == "an owl, ink\n"
    assert (dataset / "fox.txt").read_text() == "a fox, watercolor\n"
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in images} == images  # pictures untouched
    assert sorted(p.name for p in dataset.rglob("*.tmp")) == []
    again = import_captions(dataset, source)
    assert again.written == () and sorted(again.unchanged) == ["fox.txt", "works/owl.txt"]


def test_import_captions_cli_and_bad_source(dataset: Path, tmp_path: Path, home: Path) -> None:
    assert main(["data", "import-captions", str(dataset), str(_csv(tmp_path / "e.csv"))]) == 0
    assert (dataset / "fox.txt").is_file()
    (tmp_path / "e.xml").write_text("<x/>")
    assert main(["data", "import-captions", str(dataset), str(tmp_path / "e.xml")]) == 2
    (tmp_path / "cols.csv").write_text("path,notes\na.png,x\n")
    with pytest.raises(BadInput, match="no caption column"):
        import_captions(dataset, tmp_path / "cols.csv")


def test_kohya_repeat_folders(tmp_path: Path) -> None:
    for folder, names in (("10_zkz man", ("a", "b")), ("1_man", ("c",))):
        (tmp_path / folder).mkdir()
        for name in names:
            Image.new("RGB", (64, 64)).save(tmp_path / folder / f"{name}.png")
    (tmp_path / "10_zkz man" / "a.txt").write_text("zkz man, smiling")
    items = read_dataset(tmp_path)
    assert [(i.image.name, i.caption, i.subset.repeats) for i in items] == [
        ("a.png", "zkz man, smiling", 10), ("b.png", "zkz man", 10), ("c.png", "man", 1)]


def test_buckets_are_multiples_of_the_step_and_fit_the_area() -> None:
    buckets = make_buckets(512, 64)
    assert Bucket(512, 512) in buckets and Bucket(384, 640) in buckets and Bucket(640, 384) in buckets
    assert all(b.width % 64 == 0 and b.height % 64 == 0 and b.width * b.height <= 512 * 512 for b in buckets)
    assert min(min(b.width, b.height) for b in buckets) == 256 and max(b.width for b in buckets) == 1024
    assert assign_bucket((1024, 1024), buckets) == Bucket(512, 512)
    assert assign_bucket((1500, 1000), buckets) == Bucket(640, 384)  # 1.67 is nearer 1.5 than 576x448's 1.29
    assert assign_bucket((600, 1000), buckets) == Bucket(384, 640)  # 0.6 exactly
    assert assign_bucket((4000, 1000), buckets) == Bucket(1024, 256)  # 4:1, the widest bucket
    fitted = fit_to_bucket(Image.new("RGB", (1500, 1000)), Bucket(640, 384))
    assert fitted.size == (640, 384)
    with pytest.raises(BadInput, match="multiple of 64"):
        make_buckets(500, 64)


def test_tag_shuffle_keeps_leading_tags_and_dropout() -> None:
    caption = "zkz, man, smiling, red shirt, park, sunny, photo"
    generator = torch.Generator().manual_seed(0)
    shuffles = {shuffle_tags(caption, keep=2, generator=generator) for _ in range(30)}
    assert len(shuffles) > 5
    for text in shuffles:
        tags = text.split(", ")
        assert tags[:2] == ["zkz", "man"] and sorted(tags) == sorted(caption.split(", "))
    first = [augment_caption(caption, shuffle=True, keep=1, dropout=0.5, generator=torch.Generator().manual_seed(3))
             for _ in range(1)]
    again = [augment_caption(caption, shuffle=True, keep=1, dropout=0.5, generator=torch.Generator().manual_seed(3))
             for _ in range(1)]
    assert first == again  # the generator alone decides
    generator = torch.Generator().manual_seed(1)
    dropped = [augment_caption(caption, shuffle=False, keep=0, dropout=0.3, generator=generator) for _ in range(400)]
    assert set(dropped) == {"", caption}
    assert 0.2 < dropped.count("") / 400 < 0.4
    assert tag_frequency(["zkz, man", "zkz, red"]) == {"zkz": 2, "man": 1, "red": 1}


def test_pictures_are_converted_to_8_bit_rgb_on_white() -> None:
    from sfumato.train.lora.examples import to_rgb

    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(transparent).getpixel((0, 0)) == (255, 255, 255)
    half = Image.new("LA", (4, 4), (0, 128))
    assert to_rgb(half).getpixel((0, 0)) == (127, 127, 127)
    deep = Image.frombytes("I;16", (2, 1), bytes([0, 0, 0xFF, 0xFF]))  # 0 and 65535, little-endian
    assert [to_rgb(deep).getpixel((x, 0)) for x in (0, 1)] == [(0, 0, 0), (255, 255, 255)]
    assert to_rgb(Image.new("CMYK", (2, 2), (0, 255, 255, 0))).getpixel((0, 0)) == (255, 0, 0)
    palette = Image.new("RGB", (2, 2), (10, 200, 30)).convert("P")
    assert to_rgb(palette).mode == "RGB"
