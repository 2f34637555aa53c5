"""The web studio and dynamic-prompt templates in headless Chromium: a template with batch size 2 makes two jobs
through /api/jobs/many, and the result area and the queue show both pictures with their own prompts (issue #5)."""

from __future__ import annotations

from pathlib import Path

from tests.server.live import LiveServer
from tests.server.test_web_studio import page  # noqa: F401 (the Chromium page fixture)

# With seed 43, picture 0 (seed 43) draws "red" and picture 1 (seed 44) "blue" (the extension's random mode).
TEMPLATE = "a {red|blue} template owl"


def test_a_template_makes_every_picture(live_server: LiveServer, page, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page.goto(live_server.url + "/")
    page.wait_for_selector("#model option[value='sfumato-tiny']", state="attached")
    page.get_by_label("Prompt", exact=True).fill(TEMPLATE)
    for label, value in (("Steps", "2"), ("Width", "32"), ("Height", "32"), ("Seed", "43"), ("Batch size", "2")):
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Prompt", exact=True).press("Control+Enter")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')", timeout=60_000)
    assert page.locator("#status").inner_text() == "Done: 2 picture(s) from 2 jobs"
    assert page.locator("#error").inner_text() == ""
    images = page.locator("#results img")
    assert images.count() == 2
    page.wait_for_function("[...document.querySelectorAll('#results img')].every((i) => i.naturalWidth > 0)")
    alts = [images.nth(i).get_attribute("alt") for i in range(2)]
    assert alts == ["a red template owl", "a blue template owl"]
    page.screenshot(path=str(artifacts_dir / "web-template-results.png"))

    page.get_by_role("button", name="Open picture: a blue template owl, seed 44").click()
    recipe = page.locator("#picture-recipe").inner_text()
    assert recipe.startswith("a blue template owl") and "Seed: 44" in recipe
    page.get_by_role("button", name="Close").click()

    page.get_by_role("button", name="Queue").click()
    for prompt in ("a red template owl", "a blue template owl"):
        row = page.locator("#queue-table tbody tr", has_text=prompt)
        row.wait_for()
        assert row.locator("td").first.inner_text() == "done"
    page.screenshot(path=str(artifacts_dir / "web-template-queue.png"))
