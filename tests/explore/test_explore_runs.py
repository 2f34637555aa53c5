"""Grids and walks made on the tiny model through the Studio into the catalog, checked picture by picture."""

from __future__ import annotations

from collections.abc import Iterator

import av
import numpy as np
import pytest
from PIL import Image

from sfumato.catalog import SearchFilters
from sfumato.explore.axes import parse_axis
from sfumato.explore.grid import expand_template, place_axes, plan_grid
from sfumato.explore.grid_image import read_sheet
from sfumato.explore.run import run_grid, run_walk
from sfumato.explore.walk import plan_walk
from sfumato.recipe import Recipe
from sfumato.settings import Settings
from sfumato.studio import SavedPicture, Studio

FAST = {"steps": 2, "width": 32, "height": 32, "seed": 4}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("home")))
    yield opened
    opened.close()


def _make(studio: Studio):  # the CLI's way: Studio.generate saves into the catalog
    def make(recipe: Recipe, *, collection: str) -> list[SavedPicture]:
        return studio.generate(recipe, collection=collection)

    return make


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _alone(studio: Studio, **fields: object) -> np.ndarray:
    return _pixels(studio.engine.run(studio.new_recipe({"prompt": "a red apple", **FAST, **fields}))[0].image)


def test_templated_grid_cells_labels_sheet_and_catalog(studio: Studio) -> None:
    prompt, templated = expand_template("a portrait of a {nurse|CEO} in {Lagos|Oslo}")
    axes = place_axes((None, None, parse_axis("seed: 4, 5")), templated)
    plan = plan_grid(studio.new_recipe({"prompt": prompt, **FAST}), axes)
    result = run_grid(plan, make=_make(studio), library_root=studio.catalog.root, collection="grids/test",
                      stamp="t1")
    assert len(result.cells) == 8 and len(result.sheets) == 2
    assert [p.name for p in result.sheets] == ["grid-t1-z1.grid.png", "grid-t1-z2.grid.png"]
    meta = read_sheet(result.sheets[1])
    assert meta is not None and (meta["columns"], meta["rows"], len(meta["cells"])) == (2, 2, 4)
    assert [a["value_labels"] for a in meta["axes"]] == [["nurse", "CEO"], ["Lagos", "Oslo"],
                                                         ["Seed: 4", "Seed: 5"]]
    assert meta["z_label"] == "Seed: 5" and meta["base"]["prompt"] == "a portrait of a nurse in Lagos"
    with Image.open(result.sheets[1]) as sheet:
        sheet_pixels = _pixels(sheet)
        left, top = meta["origin"]
        assert sheet.size == (left + 2 * meta["column_width"], top + 2 * 32)
    assert (sheet_pixels[:top] < 128).any() and (sheet_pixels[top:, :left] < 128).any()  # labels were drawn
    for cell in meta["cells"]:
        saved = result.sheets[1].parent / cell["file"]
        assert Recipe.model_validate(cell["recipe"]).seed == 5
        x, y = cell["at"]
        with Image.open(saved) as picture:
            np.testing.assert_array_equal(sheet_pixels[y:y + 32, x:x + 32], _pixels(picture))
    ceo_oslo = meta["cells"][3]
    assert ceo_oslo["recipe"]["prompt"] == "a portrait of a CEO in Oslo"
    # Every cell is the picture its recipe makes alone.
    for saved in result.cells[::3]:
        with Image.open(saved.path) as picture:
            np.testing.assert_array_equal(_pixels(picture), _pixels(studio.engine.run(saved.recipe)[0].image))
    assert len(studio.catalog.search(None, SearchFilters(collection="grids/test"), limit=50)) == 8
    assert studio.catalog.reindex().skipped == ()  # the sheets are not taken for pictures


def test_seed_walk_runs_from_one_seed_picture_to_the_other(studio: Studio) -> None:
    start = studio.new_recipe({"prompt": "a red apple", **FAST})
    plan = plan_walk(start, frames=4, to_seed=9)
    assert plan.factors == (0.0, 1 / 3, 2 / 3, 1.0)
    result = run_walk(plan, make=_make(studio), library_root=studio.catalog.root, collection="walks/seed",
                      stamp="w1", fps=4, formats=("webp", "gif", "mp4"))
    frames = [_pixels(Image.open(frame.path)) for frame in result.frames]
    np.testing.assert_array_equal(frames[0], _alone(studio))
    np.testing.assert_array_equal(frames[-1], _alone(studio, seed=9))
    assert not np.array_equal(frames[1], frames[0]) and not np.array_equal(frames[1], frames[-1])
    assert result.frames[2].recipe.subseed == 9 and result.frames[2].recipe.subseed_strength == pytest.approx(2 / 3)
    webp, gif, mp4, manifest = result.files
    assert [p.suffix for p in result.files] == [".webp", ".gif", ".mp4", ".json"]
    for animation in (webp, gif):
        with Image.open(animation) as image:
            assert image.n_frames == 4
    with Image.open(webp) as image:  # lossless: the last frame is the last picture
        image.seek(3)
        np.testing.assert_array_equal(_pixels(image), frames[-1])
    with av.open(str(mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4
    assert '"to_seed": 9' in manifest.read_text()


def test_prompt_walk_runs_from_one_prompt_picture_to_the_other(studio: Studio) -> None:
    start = studio.new_recipe({"prompt": "a red apple", **FAST})
    plan = plan_walk(start, frames=3, to_prompt="a green pear on a table")
    result = run_walk(plan, make=_make(studio), library_root=studio.catalog.root, collection="walks/prompt",
                      stamp="w2", fps=4, formats=("gif",))
    frames = [_pixels(Image.open(frame.path)) for frame in result.frames]
    np.testing.assert_array_equal(frames[0], _alone(studio))
    np.testing.assert_array_equal(frames[-1], _alone(studio, prompt="a green pear on a table"))
    assert not np.array_equal(frames[1], frames[0]) and not np.array_equal(frames[1], frames[-1])
    middle = result.frames[1]
    assert (middle.recipe.mix_prompt, middle.recipe.mix_factor) == ("a green pear on a table", 0.5)
    again = studio.again(middle.path)  # the frame's own recipe makes it again
    assert again.matches
