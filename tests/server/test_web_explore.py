"""The web studio's Explore tab in real headless Chromium: a 2x2 grid (seed x Prompt S/R) whose cells open their
pictures, and a 3-frame seed walk with its frames and animated WebP. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

from tests.server.live import LiveServer
from tests.server.test_web_studio import page  # noqa: F401 (the Chromium page fixture)


def _open_explore(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server.url + "/")
    page.wait_for_selector("#model option[value='sfumato-tiny']", state="attached")
    page.get_by_role("button", name="Explore", exact=True).click()


def test_grid_sheet_and_its_cells(  # noqa: F811 (page is the imported fixture)
        live_server: LiveServer, page, artifacts_dir: Path) -> None:
    _open_explore(page, live_server)
    page.get_by_label("Grid prompt").fill("a glass owl")
    page.get_by_label("X axis").select_option(label="Seed")
    page.get_by_label("X values").fill("5-6")
    page.get_by_label("Y axis").select_option(label="Prompt S/R")
    page.get_by_label("Y values").fill("owl, fox")
    for name, value in (("Grid steps", "2"), ("Grid width", "48"), ("Grid height", "48")):
        page.get_by_label(name).fill(value)
    page.get_by_role("button", name="Make grid").click()
    page.wait_for_function("document.querySelector('#grid-status').textContent.startsWith('Done')", timeout=120_000)
    page.wait_for_function("document.querySelector('.sheet-stage img').naturalWidth > 0")
    assert page.locator("#grid-progress").evaluate("p => p.value") == 1
    cells = page.get_by_role("button", name="Open cell:")
    assert cells.count() == 4
    page.screenshot(path=str(artifacts_dir / "web-explore-grid.png"), full_page=True)

    # The sheet is the labelled grid the API wrote: its cells are 48 px pictures under the label bands.
    src = page.locator(".sheet-stage img").get_attribute("src")
    assert src is not None and src.endswith(".grid.png")
    sheet = Image.open(io.BytesIO(httpx.get(live_server.url + src).content))
    assert sheet.width > 2 * 48 and sheet.height > 2 * 48

    # A click on the bottom-right cell (seed 6, fox) opens that picture in the gallery's dialog.
    page.get_by_role("button", name="Open cell: Seed: 6, fox").click()
    page.wait_for_selector("#picture-dialog[open]")
    assert page.locator("#picture-title").text_content() == "a glass fox"
    assert "Seed: 6" in (page.locator("#picture-recipe").text_content() or "")
    page.screenshot(path=str(artifacts_dir / "web-explore-cell.png"))
    page.get_by_role("button", name="Close").click()

    # An axis the API refuses shows the API's message, naming the axis.
    page.get_by_label("X values").fill("1-3 [x]")
    page.get_by_role("button", name="Make grid").click()
    page.wait_for_function("document.querySelector('#grid-error').textContent.includes('seed')")

    # Stop cancels the grid's running job (and any queued after it): the API's answer says so.
    page.get_by_label("X values").fill("11-16")
    page.get_by_label("Y values").fill("")
    page.get_by_label("Grid steps").fill("30")
    page.get_by_role("button", name="Make grid").click()
    page.wait_for_function("document.querySelector('#grid-status').textContent.includes('making')", timeout=60_000)
    page.get_by_role("button", name="Stop grid").click()
    page.wait_for_function("document.querySelector('#grid-error').textContent.includes('cancelled')", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "web-explore-stopped.png"))
    assert page.get_by_role("button", name="Make grid").is_enabled()


def test_seed_walk_frames_and_animation(  # noqa: F811 (page is the imported fixture)
        live_server: LiveServer, page, artifacts_dir: Path) -> None:
    _open_explore(page, live_server)
    page.get_by_label("Walk prompt").fill("a walking lantern")
    for name, value in (("From seed", "3"), ("To seed", "4"), ("Frames", "3"), ("Walk steps", "2"),
                        ("Walk width", "32"), ("Walk height", "32")):
        page.get_by_label(name, exact=True).fill(value)
    page.get_by_label("Frames", exact=True).press("Control+Enter")  # Ctrl+Enter submits the form it is typed in
    page.wait_for_function("document.querySelector('#walk-status').textContent.startsWith('Done')", timeout=120_000)
    frames = page.locator("#walk-frames-strip button.thumb")
    assert frames.count() == 3
    page.wait_for_function("document.querySelector('#walk-animation').naturalWidth > 0")
    page.screenshot(path=str(artifacts_dir / "web-explore-walk.png"), full_page=True)

    src = page.locator("#walk-animation").get_attribute("src")
    assert src is not None and src.endswith(".webp")
    with Image.open(io.BytesIO(httpx.get(live_server.url + src).content)) as animation:
        assert animation.n_frames == 3
    frames.nth(2).click()
    page.wait_for_selector("#picture-dialog[open]")
    assert "Variation seed: 4" in (page.locator("#picture-recipe").text_content() or "")
