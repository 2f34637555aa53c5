"""Emoji dataset builder: join, captions, hold-outs, license guard, safe extraction, SVG, NOTICE (offline).

The fixtures under tests/fixtures/emoji/npm/ are real entries from the pinned npm packages, laid out
as the cache holds them after extraction, so no test reaches the network.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from typer.testing import CliRunner

from sfumato.errors import BadInput
from sfumato.train.emoji.build import build_emoji_dataset, build_holdout_datasets
from sfumato.train.emoji.captions import caption, slugify
from sfumato.train.emoji.cli import data_app
from sfumato.train.emoji.codepoints import codepoint_key, key_of_emoji
from sfumato.train.emoji.fetch import MARKER, ensure_package, extract_members, marker_text, sri_sha512
from sfumato.train.emoji.holdouts import HOLDOUT_CONCEPTS, HOLDOUT_KEYS
from sfumato.train.emoji.pictures import PictureRef, iconify_svg, rasterise_svg, render
from sfumato.train.emoji.sources import (
    BASE_STYLES,
    IMAGE_SOURCES,
    LABEL_SOURCES,
    NpmPackage,
    check_allowed,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "emoji"
CACHE = FIXTURES / "npm"


def _rows(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("emoji") / "base"
    build_emoji_dataset(out, cache=CACHE, size=32)
    return out


def test_fixture_cache_matches_the_pinned_sources() -> None:
    # A marker that differs from the table would make the build re-fetch, i.e. reach the network.
    packages = {s.package for s in IMAGE_SOURCES.values()} | {s.package for s in LABEL_SOURCES.values()}
    for package in packages:
        marker = (CACHE / package.folder / MARKER).read_text(encoding="utf-8")
        assert marker == marker_text(package), package.name


def test_pictures_join_labels_on_the_codepoint_in_every_style(base: Path) -> None:
    rows = _rows(base)
    by_style = {style: {row["label"] for row in rows if row["style"] == style} for style in BASE_STYLES}
    for style in BASE_STYLES:
        # FE0F spellings ("2764-fe0f.png") join emojibase's "2764"; a mirrored iconify alias joins too
        expected = {"cat face", "red heart", "rocket", "waving hand", "backhand index pointing right"}
        assert expected <= by_style[style]
    rocket = next(row for row in rows if row["label"] == "rocket" and row["style"] == "noto")
    assert rocket["codepoint"] == "1F680" and rocket["emoji"] == "🚀"
    assert "space" in rocket["tags"] and "shuttle" in rocket["keywords"]  # emojibase tags + emojilib keywords
    assert rocket["license"] == "Apache-2.0" and rocket["source_package"] == "emoji-datasource-google@16.0.0"
    assert [row["file_name"] for row in rows] == sorted(row["file_name"] for row in rows)


def test_captions_carry_the_style_words(base: Path) -> None:
    words = {"noto": "noto style", "twemoji": "twemoji style", "fluent-3d": "3d style",
             "fluent": "fluent style", "fluent-flat": "flat style"}
    for style, style_words in words.items():
        text = (base / "images" / style / "cat-face.txt").read_text(encoding="utf-8")
        assert text == f"a cat face, {style_words}\n"
    row = next(r for r in _rows(base) if r["file_name"] == "images/fluent-3d/cat-face.png")
    assert row["text"] == "a cat face, 3d style"
    assert caption("avocado", "flat style") == "an avocado, flat style"
    assert caption("sparkles", "noto style") == "sparkles, noto style"
    assert caption("unicorn", "3d style") == "a unicorn, 3d style"
    assert caption("cooking", "3d style") == "cooking, 3d style"
    assert slugify("Japanese “here” button") == "japanese-here-button"


def test_pictures_are_white_backed_squares_of_the_asked_size(base: Path) -> None:
    for style in BASE_STYLES:
        with Image.open(base / "images" / style / "cat-face.png") as image:
            assert image.mode == "RGB" and image.size == (32, 32)
            assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent corner composited on white
            colours = image.getcolors(32 * 32) or []
            assert len(colours) > 20  # a drawing, not a blank square


def test_held_out_concepts_are_left_out_of_every_style(base: Path, tmp_path: Path) -> None:
    rows = _rows(base)
    assert not {codepoint_key(str(row["codepoint"])) for row in rows} & HOLDOUT_KEYS
    assert not any("otter" in str(row["label"]) or "umbrella" in str(row["label"]) for row in rows)
    report = build_emoji_dataset(tmp_path / "again", cache=CACHE, size=16)
    for style in BASE_STYLES:
        assert report.skipped[style]["held-out concept"] == 2  # otter and umbrella in the fixtures
    with_them = build_emoji_dataset(tmp_path / "with", cache=CACHE, size=16, include_holdouts=True)
    assert with_them.written["noto"] == report.written["noto"] + 2


def test_holdout_list_is_about_twenty_named_concepts() -> None:
    assert 18 <= len(HOLDOUT_CONCEPTS) <= 22
    assert len({c.name for c in HOLDOUT_CONCEPTS}) == len(HOLDOUT_CONCEPTS)
    assert {c.kind for c in HOLDOUT_CONCEPTS} == {"animal", "food", "object"}
    assert {"1F9A6", "2602"} <= HOLDOUT_KEYS


def test_skin_tones_and_unlabelled_pictures_are_skipped_with_a_reason(tmp_path: Path) -> None:
    report = build_emoji_dataset(tmp_path / "ds", cache=CACHE, size=16, styles=["noto"])
    assert report.skipped["noto"]["skin-tone variant"] == 1
    assert report.skipped["noto"]["no label"] == 1  # dog face: a picture the trimmed emojibase lacks
    toned = build_emoji_dataset(
        tmp_path / "toned", cache=CACHE, size=16, styles=["noto"], include_skin_tones=True
    )
    labels = {row["label"] for row in _rows(tmp_path / "toned")}
    assert "waving hand: light skin tone" in labels and toned.written["noto"] == report.written["noto"] + 1


def test_holdout_datasets_are_built_apart(tmp_path: Path) -> None:
    reports = build_holdout_datasets(tmp_path, cache=CACHE, size=16)
    openmoji = _rows(tmp_path / "openmoji-style")
    assert {row["style"] for row in openmoji} == {"openmoji"}
    assert "a cat face, openmoji style" in {row["text"] for row in openmoji}
    assert not any(codepoint_key(str(row["codepoint"])) in HOLDOUT_KEYS for row in openmoji)
    assert {row["license"] for row in openmoji} == {"CC-BY-SA-4.0"}
    concepts = _rows(tmp_path / "holdout-concepts")
    assert {row["label"] for row in concepts} == {"otter", "umbrella"}
    assert {row["style"] for row in concepts} == set(BASE_STYLES)
    assert reports.concepts.total == 2 * len(BASE_STYLES)
    assert "CC BY-SA 4.0" in (tmp_path / "openmoji-style" / "NOTICE").read_text(encoding="utf-8")


def test_openmoji_never_enters_the_base_dataset(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="hold-out style"):
        build_emoji_dataset(tmp_path / "ds", cache=CACHE, styles=["noto", "openmoji"])
    with pytest.raises(BadInput, match="valid styles are"):
        build_emoji_dataset(tmp_path / "ds", cache=CACHE, styles=["apple"])


@pytest.mark.parametrize("name", ["emoji-datasource-apple", "emoji-datasource-facebook", "emojione-assets",
                                  "emojione", "joypixels", "@joypixels/assets", "emoji-toolkit"])
def test_apple_facebook_and_emojione_packages_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not openly licensed"):
        check_allowed(name)
    package = NpmPackage(name, "16.0.0", "proprietary", "sha512-x", ("package/*",))
    with pytest.raises(BadInput, match="refused"):  # refused before npm is ever asked
        ensure_package(package, cache=tmp_path)
    assert not any(tmp_path.iterdir())


def test_every_table_package_passes_the_guard() -> None:
    for source in IMAGE_SOURCES.values():
        check_allowed(source.package.name)
    check_allowed("pineapple-icons")  # words, not substrings, are refused


def _tarball(path: Path, members: dict[str, bytes], *, link: tuple[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            archive.addfile(info)
    return path


@pytest.mark.parametrize("bad", ["package/../../evil.txt", "../evil.txt", "/etc/evil.txt"])
def test_extraction_refuses_paths_that_leave_the_folder(bad: str, tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "bad.tgz", {"package/ok.png": b"x", bad: b"owned"})
    with pytest.raises(BadInput, match="stay inside"):
        extract_members(tarball, tmp_path / "out" / "pkg", patterns=("package/*", "*"))
    assert not (tmp_path / "out" / "pkg").exists() and not (tmp_path / "evil.txt").exists()


def test_extraction_refuses_links(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "link.tgz", {"package/ok.png": b"x"}, link=("package/a.png", "/etc/passwd"))
    with pytest.raises(BadInput, match="links"):
        extract_members(tarball, tmp_path / "pkg", patterns=("package/*",))


def test_a_cached_tarball_with_the_pinned_hash_is_extracted_without_npm(tmp_path: Path) -> None:
    cache = tmp_path / "npm"
    cache.mkdir()
    members = {"package/a.png": b"a", "package/b.txt": b"b", "package/c/d.png": b"d"}
    tarball = _tarball(cache / "tiny-1.0.0.tgz", members)
    package = NpmPackage("tiny", "1.0.0", "MIT", sri_sha512(tarball), ("package/*.png", "package/c/*"))
    root = ensure_package(package, cache=cache)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [MARKER, "package/a.png", "package/c/d.png"]  # only the members asked for
    assert sri_sha512(tarball).startswith("sha512-") and len(sri_sha512(tarball)) == 95


def test_svg_is_rasterised_to_rgba() -> None:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
           '<rect x="0" y="0" width="5" height="10" fill="#ff0000"/></svg>')
    image = rasterise_svg(svg, 40)
    assert image.mode == "RGBA" and image.size == (40, 40)
    assert image.getpixel((5, 20)) == (255, 0, 0, 255) and image.getpixel((35, 20))[3] == 0
    assert render(PictureRef("0", "test", svg=svg), 20).getpixel((18, 10)) == (255, 255, 255)
    with pytest.raises(BadInput, match="rasterised"):
        rasterise_svg("<not svg", 16)


def test_mirrored_iconify_aliases_are_drawn_mirrored() -> None:
    icons_json = CACHE / "iconify-json-fluent-emoji-flat-1.2.6/package/icons.json"
    icons = json.loads(icons_json.read_text(encoding="utf-8"))
    right = rasterise_svg(iconify_svg(icons, "backhand-index-pointing-right") or "", 64)
    left = rasterise_svg(iconify_svg(icons, "backhand-index-pointing-left") or "", 64)
    mirrored = ImageStat.Stat(ImageChops.difference(right, left.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    unmirrored = ImageStat.Stat(ImageChops.difference(right, left))
    # equal up to anti-aliasing at the edges, and far from the unmirrored hand
    assert max(mirrored.mean) < 1.0 and max(unmirrored.mean) > 10 * max(max(mirrored.mean), 0.1)
    assert iconify_svg(icons, "no-such-icon") is None


def test_notice_credits_every_source_with_its_license(base: Path) -> None:
    notice = " ".join((base / "NOTICE").read_text(encoding="utf-8").split())  # wrapped lines joined
    for needle in ("Copyright 2020 Twitter, Inc and other contributors", "CC-BY 4.0",
                   "https://creativecommons.org/licenses/by/4.0/", "Noto Emoji", "Apache License 2.0",
                   "Copyright (c) Microsoft Corporation", "MIT License", "emojibase-data 17.0.0",
                   "Miles Johnson", "emojilib 4.0.3", "Mu-An Chiou", "32x32", "Permission is hereby granted"):
        assert needle in notice, needle
    assert "OpenMoji" not in notice  # the base set credits only what it holds


def test_codepoint_keys_agree_across_spellings() -> None:
    assert codepoint_key("2764-fe0f-200d-1f525") == codepoint_key("2764-FE0F-200D-1F525") == "2764-200D-1F525"
    assert codepoint_key("1F3F4-E0067-E0062-E0065-E006E-E0067-E007F") == "1F3F4-E0067-E0062-E0065-E006E-E0067"
    assert codepoint_key("0023-fe0f-20e3") == "0023-20E3" and key_of_emoji("🐱") == "1F431"


def test_builds_are_repeatable_and_prune_stale_pictures(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    build_emoji_dataset(first, cache=CACHE, size=16, styles=["fluent", "twemoji"])
    build_emoji_dataset(second, cache=CACHE, size=16, styles=["fluent", "twemoji"])
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    build_emoji_dataset(first, cache=CACHE, size=16, styles=["twemoji"], limit=2)
    assert not (first / "images" / "fluent").exists()
    assert len(list((first / "images/twemoji").glob("*.png"))) == 2
    assert not list(first.rglob(".*.tmp"))


def test_a_folder_that_is_no_dataset_is_not_written_over(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(BadInput, match="not empty"):
        build_emoji_dataset(tmp_path, cache=CACHE, size=16)


def test_cli_prints_counts_per_style_and_skip_reasons(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        data_app, ["build-emoji", str(tmp_path / "ds"), "--size", "16", "--styles", "noto,twemoji",
                   "--holdouts", "--cache", str(CACHE)],
    )
    assert result.exit_code == 0, result.output
    assert "held-out concept" in result.output and "skin-tone variant" in result.output
    assert "openmoji-style" in result.output and "holdout-concepts" in result.output
    assert len(_rows(tmp_path / "ds" / "base")) == 2 * 5  # 5 labelled base subjects in 2 styles


def test_sfumato_data_build_emoji_uses_the_home_cache(tmp_path: Path) -> None:
    from sfumato.cli import main

    home = tmp_path / "home"
    shutil.copytree(CACHE, home / "cache" / "npm")  # as an earlier online run would have left it
    code = main(["--home", str(home), "data", "build-emoji", str(tmp_path / "ds"), "--size", "16",
                 "--styles", "fluent-3d"])
    assert code == 0
    assert (tmp_path / "ds" / "base" / "images" / "fluent-3d" / "rocket.png").is_file()
