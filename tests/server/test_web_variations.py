"""Web studio and variations in headless Chromium: a variation's "Same seed, new prompt" keeps its variation seed
and strength; "More like this" makes four variations of a plain picture."""

from __future__ import annotations

from pathlib import Path

from tests.server.live import LiveServer
from tests.server.test_web_studio import page  # noqa: F401 (the Chromium page fixture)


def test_same_seed_keeps_the_variation_and_more_like_this(live_server: LiveServer, page, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page.goto(live_server.url + "/")
    page.wait_for_selector("#model option[value='sfumato-tiny']", state="attached")
    page.get_by_label("Prompt", exact=True).fill("a varied browser kettle")
    for label, value in (("Steps", "2"), ("Width", "32"), ("Height", "32"), ("Seed", "321"),
                         ("Variation seed", "9"), ("Variation strength", "0.3")):
        page.get_by_label(label, exact=True).fill(value)
    page.locator("#generate-button").click()
    page.wait_for_selector("#results img")
    page.get_by_role("button", name="Open picture: a varied browser kettle, seed 321").click()
    assert "Variation seed: 9, Variation seed strength: 0.3" in page.locator("#picture-recipe").inner_text()
    page.get_by_role("button", name="Same seed, new prompt").click()
    values = [page.get_by_label(label, exact=True).input_value()
              for label in ("Seed", "Variation seed", "Variation strength", "Prompt")]
    assert values == ["321", "9", "0.3", ""]

    page.get_by_label("Prompt", exact=True).fill("a plain browser kettle")
    page.get_by_label("Variation seed", exact=True).fill("")
    page.get_by_label("Variation strength", exact=True).fill("0")
    page.locator("#generate-button").click()
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')")
    page.get_by_role("button", name="Open picture: a plain browser kettle, seed 321").click()
    assert "Variation seed" not in page.locator("#picture-recipe").inner_text()
    page.get_by_role("button", name="More like this").click()
    page.wait_for_function("document.querySelector('#status').textContent === 'Done: 4 picture(s)'")
    assert page.get_by_label("Variation strength", exact=True).input_value() == "0.2"
    assert page.locator("#results img").count() == 4
    page.screenshot(path=str(artifacts_dir / "web-more-like-this.png"))
