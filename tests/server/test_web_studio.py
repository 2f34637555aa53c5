"""The web studio in real headless Chromium: type a prompt, Ctrl+Enter, watch progress, find the picture in the
gallery, search for it, drop a PNG and read its recipe. Screenshots go to test-artifacts/ (look at them)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from tests.server.live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]

import playwright.sync_api as playwright_api  # a test dependency: its absence must fail, not skip


@pytest.fixture
def page(artifacts_dir: Path):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        # CI must run the browser test; a developer without Chromium may skip it.
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `scripts/setup --test` installs it (scripts/browser-deps)")
        pytest.skip("chromium is not installed (scripts/browser-deps installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        yield context.new_page()
        browser.close()


def drop_file(page, name: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    """Dispatch a real drop event carrying `data` as a file, as dragging it from the desktop does."""
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/png"}));
            for (const type of ["dragenter", "dragover", "drop"]) {
                document.body.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        [name, base64.b64encode(data).decode()],
    )


def test_generate_gallery_search_and_drop(live_server: LiveServer, page, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server.url + "/")
    page.wait_for_selector("#model option[value='sfumato-tiny']", state="attached")
    page.get_by_label("Prompt", exact=True).fill("a browser made teapot")
    page.get_by_label("Steps", exact=True).fill("40")
    page.get_by_label("Seed", exact=True).fill("1234")
    page.get_by_label("Prompt", exact=True).press("Control+Enter")
    page.wait_for_function("document.querySelector('#progress').value > 0")
    page.screenshot(path=str(artifacts_dir / "web-generate-progress.png"))
    page.wait_for_selector("#results img")
    page.wait_for_function("document.querySelector('#results img').naturalWidth > 0")
    assert "Done: 1 picture" in page.locator("#status").inner_text()
    page.screenshot(path=str(artifacts_dir / "web-generate-done.png"))

    page.get_by_role("button", name="Gallery").click()
    page.get_by_label("Search prompts").fill("teapot")
    page.get_by_role("button", name="Search").click()
    page.wait_for_function("document.querySelector('#gallery-count').textContent === '1 picture(s)'")
    page.get_by_role("button", name="Open picture: a browser made teapot, seed 1234").click()
    recipe_text = page.locator("#picture-recipe").inner_text()
    assert "Seed: 1234" in recipe_text and "Steps: 40" in recipe_text
    page.screenshot(path=str(artifacts_dir / "web-picture.png"))
    page.get_by_role("button", name="Same seed, new prompt").click()
    assert page.get_by_label("Seed", exact=True).input_value() == "1234" and page.get_by_label("Prompt", exact=True).input_value() == ""

    picture_url = page.locator("#results img").first.get_attribute("src")
    png = httpx.get(live_server.url + picture_url).content
    drop_file(page, "dropped.png", png)
    page.wait_for_selector("#picture-dialog[open]")
    assert "Seed: 1234" in page.locator("#picture-recipe").inner_text()
    assert "dropped.png" in page.locator("#picture-title").inner_text()
    page.screenshot(path=str(artifacts_dir / "web-dropped-recipe.png"))
    page.get_by_role("button", name="Use these settings").click()
    assert page.get_by_label("Prompt", exact=True).input_value() == "a browser made teapot"

    page.set_viewport_size({"width": 800, "height": 1100})  # a tablet
    page.get_by_role("button", name="Queue").click()
    page.wait_for_selector("#queue-table tbody tr")
    page.screenshot(path=str(artifacts_dir / "web-queue-tablet.png"))
