"""The web studio's Image tab in real headless Chromium: load a picture, paint a mask, inpaint, see before/after.
Screenshots go to test-artifacts/ (look at them)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.server.live import LiveServer
from tests.server.test_web_studio import page  # noqa: F401 (the Chromium page fixture)


def _init_png(path: Path) -> Path:
    rng = np.random.default_rng(21)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").save(path)
    return path


def test_paint_a_mask_and_inpaint(  # noqa: F811 (page is the imported fixture)
        live_server: LiveServer, page, artifacts_dir: Path, tmp_path: Path) -> None:
    init = _init_png(tmp_path / "init.png")
    page.goto(live_server.url + "/")
    page.wait_for_selector("#model option[value='sfumato-tiny']", state="attached")
    page.get_by_role("button", name="Image", exact=True).click()
    page.get_by_label("Init picture", exact=True).set_input_files(str(init))
    page.wait_for_function("document.querySelector('#image-status').textContent.includes('64x64')")
    page.get_by_label("Img2img prompt").fill("a painted patch")
    page.get_by_label("Img2img steps").fill("6")
    page.get_by_label("Img2img seed").fill("33")
    page.get_by_label("Mask blur").fill("0")
    # Paint a stroke across the middle of the (384 px wide, 64 px picture) canvas with a 10 px brush.
    page.locator("#brush-size").fill("10")
    box = page.locator("#mask-canvas").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="Run img2img").click()
    page.wait_for_function("document.querySelector('#image-status').textContent.startsWith('Done')", timeout=60_000)
    page.wait_for_function("document.querySelector('#after-image').naturalWidth > 0")
    page.screenshot(path=str(artifacts_dir / "web-image-inpainted.png"))

    after_url = page.locator("#after-image").get_attribute("src")
    assert after_url is not None
    after = np.asarray(Image.open(io.BytesIO(httpx.get(live_server.url + after_url).content)).convert("RGB"),
                       dtype=np.int16)
    before = np.asarray(Image.open(init), dtype=np.int16)
    changed = np.abs(after - before).max(axis=-1) > 0
    # Only the band around the stroke (row 32, columns ~19-45, brush 10 px) changed; the rest is the init picture.
    assert changed[28:37, 22:42].mean() > 0.5
    assert not changed[:20].any() and not changed[45:].any() and not changed[:, :12].any()
    with live_server.client() as client:
        jobs = client.get("/api/jobs", params={"limit": 1}).json()
    assert jobs[0]["recipe"]["mask_hash"] is not None and jobs[0]["recipe"]["denoising_strength"] == 0.75

    # A picture dropped on the canvas becomes the init picture (elsewhere a drop reads its recipe).
    dropped = io.BytesIO()
    Image.new("RGB", (48, 32), (20, 90, 200)).save(dropped, format="PNG")
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "blue.png", {type: "image/png"}));
            const canvas = document.querySelector("#mask-canvas");
            for (const type of ["dragenter", "dragover", "drop"]) {
                canvas.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        base64.b64encode(dropped.getvalue()).decode(),
    )
    page.wait_for_function("document.querySelector('#image-status').textContent.includes('48x32')")

    # "Send to img2img" from the gallery brings a library picture and its prompt back to the Image tab.
    page.get_by_role("button", name="Gallery").click()
    page.get_by_label("Search prompts").fill("painted patch")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Open picture: a painted patch, seed 33").click()
    page.get_by_role("button", name="Send to img2img").click()
    page.wait_for_function("document.querySelector('#image-status').textContent.includes('64x64')")
    assert page.get_by_label("Img2img prompt").input_value() == "a painted patch"
    page.screenshot(path=str(artifacts_dir / "web-image-sent.png"))
