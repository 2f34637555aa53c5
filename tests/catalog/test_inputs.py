"""Input images kept by pixel hash under library/.inputs, and outpainting canvases."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.catalog import Catalog
from sfumato.catalog.inputs import InputImageMissing, InputImages, image_sha256, store_inputs
from sfumato.catalog.outpaint import Outpaint, outpaint_canvas, parse_outpaint
from sfumato.errors import BadInput
from tests.catalog.conftest import make_picture


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_the_same_pixels_give_the_same_hash_from_any_file(tmp_path: Path) -> None:
    store = InputImages(tmp_path / ".inputs")
    picture = _noise(16, 8)
    as_png, as_rgba = io.BytesIO(), picture.convert("RGBA")
    picture.save(as_png, format="PNG")
    first = store.put_bytes(as_png.getvalue(), kind="image", field="init")
    assert first == store.put(as_rgba, kind="image") == image_sha256(picture)
    assert [p.name for p in (tmp_path / ".inputs").iterdir()] == [f"{first}.png"]  # no temporary files left
    np.testing.assert_array_equal(np.asarray(store.open(first)), np.asarray(picture))
    assert store.put(picture, kind="mask") != first  # a mask is kept as grey pixels


def test_a_missing_or_malformed_hash_is_a_404_naming_the_field(tmp_path: Path) -> None:
    store = InputImages(tmp_path)
    for name in ("0" * 64, "../../etc/passwd"):
        with pytest.raises(InputImageMissing, match="init_image_hash/mask_hash: no input image") as error:
            store.open(name)
        assert (error.value.exit_code, error.value.http_status) == (2, 404)
    with pytest.raises(BadInput, match="init: not an image file"):
        store.put_bytes(b"not a picture", kind="image", field="init")


def test_reindex_does_not_take_inputs_for_pictures(catalog: Catalog) -> None:
    catalog.add(make_picture("kept"))
    InputImages(catalog.root / ".inputs").put(_noise(8, 8), kind="image")
    report = catalog.reindex()
    assert catalog.count() == 1 and not report.skipped


def test_outpaint_canvas_keeps_the_picture_and_masks_the_margins() -> None:
    picture = _noise(16, 8, seed=3)
    canvas, mask = outpaint_canvas(picture, Outpaint(left=8, down=16))
    pixels, holes = np.asarray(canvas), np.asarray(mask)
    assert canvas.size == mask.size == (24, 24)
    np.testing.assert_array_equal(pixels[0:8, 8:24], np.asarray(picture))
    assert (holes[0:8, 8:24] == 0).all() and (holes[:, :8] == 255).all() and (holes[8:] == 255).all()
    np.testing.assert_array_equal(pixels[0:8, 0], np.asarray(picture)[:, 0])  # margins start as the edge pixels


def test_parse_outpaint() -> None:
    assert parse_outpaint("left=64, down=32,top=8") == Outpaint(left=64, down=32, up=8)
    for bad in ("left=60", "left=8,left=16", "north=8", "left", "right=99999"):
        with pytest.raises(BadInput, match="--outpaint"):
            parse_outpaint(bad)


def test_outpainting_makes_its_own_mask(tmp_path: Path) -> None:
    store = InputImages(tmp_path)
    with pytest.raises(BadInput, match="outpainting makes its own mask"):
        store_inputs(store, _noise(8, 8), mask=Image.new("L", (8, 8)), outpaint=Outpaint(right=8))
    stored = store_inputs(store, _noise(13, 8), outpaint=Outpaint(right=8))
    assert (stored.width, stored.height) == (16, 8) and stored.mask_hash is not None  # 21 px wide, snapped to 8
