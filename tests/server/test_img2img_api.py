"""img2img through the server: A1111's /sdapi/v1/img2img with the real `webuiapi` client (mask included), txt2img's
hires fix, and the native /api inputs and jobs."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import webuiapi
from PIL import Image

from tests.server.live import LiveServer
from tests.server.test_native_api import events_until_done


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_webuiapi_img2img_with_a_mask_keeps_unmasked_pixels(live_server: LiveServer) -> None:
    api = webuiapi.WebUIApi(baseurl=f"{live_server.url}/sdapi/v1", sampler="Euler a", steps=6)
    init = _noise((64, 64), 1)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))
    result = api.img2img(images=[init], mask_image=mask, prompt="a webuiapi patch", seed=5, width=64, height=64,
                         denoising_strength=0.8, mask_blur=0, inpainting_fill=1, inpaint_full_res=False)
    assert len(result.images) == 1 and result.images[0].size == (64, 64)
    after = np.asarray(result.images[0].convert("RGB"), dtype=np.int16)
    before = np.asarray(init, dtype=np.int16)
    outside = np.asarray(mask) == 0
    np.testing.assert_array_equal(after[outside], before[outside])
    assert np.abs(after[~outside] - before[~outside]).mean() > 5
    infotext = result.info["infotexts"][0]
    assert "Denoising strength: 0.8" in infotext and "Init image hash: " in infotext and "Mask hash: " in infotext
    assert result.info["denoising_strength"] == 0.8 and result.parameters["init_images"] is None

    # only masked (A1111's API default) with padding and "latent noise"; img2img without a mask
    masked = api.img2img(images=[init], mask_image=mask, prompt="x", seed=5, width=64, height=64,
                         inpainting_fill=2, inpaint_full_res_padding=8, mask_blur=0)
    assert "Inpaint area: Only masked, Masked area padding: 8, Masked content: latent noise" in \
        masked.info["infotexts"][0]
    plain = api.img2img(images=[_noise((96, 64), 2)], prompt="x", seed=5, width=64, height=64, resize_mode=1)
    assert plain.images[0].size == (64, 64) and "Resize mode: crop and resize" in plain.info["infotexts"][0]


def test_img2img_refusals_follow_a1111(live_server: LiveServer) -> None:
    with live_server.client() as client:
        missing = client.post("/sdapi/v1/img2img", json={"prompt": "x"})
        assert missing.status_code == 404 and "Init image not found" in missing.json()["detail"]
        two = client.post("/sdapi/v1/img2img", json={"init_images": [_b64(_noise((8, 8), 1))] * 2})
        assert two.status_code == 422 and "init_images" in two.json()["detail"]
        bad = client.post("/sdapi/v1/img2img", json={"init_images": ["bm90IGFuIGltYWdl"], "width": 64})
        assert bad.status_code == 400 and "init_images: not an image file" in bad.json()["detail"]
        fill = client.post("/sdapi/v1/img2img", json={"init_images": [_b64(_noise((8, 8), 1))], "inpainting_fill": 7})
        assert fill.status_code == 422 and "inpainting_fill" in fill.json()["detail"]
        modes = client.get("/sdapi/v1/latent-upscale-modes").json()
        assert {"name": "Latent (bicubic antialiased)"} in modes
        assert [u["name"] for u in client.get("/sdapi/v1/upscalers").json()] == ["None", "Lanczos", "Nearest"]


def test_txt2img_enable_hr_runs_the_hires_fix(live_server: LiveServer) -> None:
    payload = {"prompt": "hires owl", "width": 32, "height": 32, "steps": 3, "seed": 9, "enable_hr": True,
               "hr_scale": 2, "hr_upscaler": "Lanczos", "hr_second_pass_steps": 2, "denoising_strength": 0.5}
    with live_server.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        image = Image.open(io.BytesIO(base64.b64decode(body["images"][0])))
        assert image.size == (64, 64)
        infotext = json.loads(body["info"])["infotexts"][0]
        assert "Size: 32x32" in infotext and "Denoising strength: 0.5" in infotext
        assert "Hires upscale: 2.0, Hires steps: 2, Hires upscaler: Lanczos" in infotext
        other = client.post("/sdapi/v1/txt2img", json={**payload, "hr_upscaler": "R-ESRGAN 4x+"})
        assert other.status_code == 422 and "hr_upscaler: sfumato has no such upscaler" in other.json()["detail"]
        checkpoint = client.post("/sdapi/v1/txt2img", json={**payload, "hr_checkpoint_name": "other"})
        assert checkpoint.status_code == 422 and "hr_checkpoint_name" in checkpoint.json()["detail"]
        own = {"sampler_name": "DPM++ 2M", "hr_sampler_name": "Euler", "hr_scheduler": "Karras",
               "hr_prompt": "sharp owl", "hr_negative_prompt": "blurry"}
        second = client.post("/sdapi/v1/txt2img", json={**payload, **own})
        assert second.status_code == 200, second.text
        assert ("Hires sampler: Euler, Hires prompt: sharp owl, Hires negative prompt: blurry, "
                "Hires schedule type: Karras, Hires upscale") in json.loads(second.json()["info"])["infotexts"][0]
        same = client.post("/sdapi/v1/txt2img", json={**payload, "hr_sampler_name": "Use same sampler",
                                                      "hr_prompt": "hires owl"})
        assert "Hires sampler" not in same.json()["info"] and "Hires prompt" not in same.json()["info"]
        unknown = client.post("/sdapi/v1/txt2img", json={**payload, "hr_sampler_name": "Eulr"})
        assert unknown.status_code == 422 and "hires_sampler" in unknown.json()["detail"]


def test_native_api_uploads_inputs_and_outpaints(live_server: LiveServer) -> None:
    init = _noise((32, 32), 3)
    with live_server.client() as client:
        stored = client.post("/api/inputs", json={"image": _b64(init)})
        assert stored.status_code == 201, stored.text
        sha = stored.json()["sha256"]
        assert client.get(f"/api/inputs/{sha}").content.startswith(b"\x89PNG")
        job = client.post("/api/jobs", json={"recipe": {"prompt": "from an upload", "init_image_hash": sha,
                                                        "width": 32, "height": 32, "steps": 3}})
        assert job.status_code == 201, job.text
        assert job.json()["recipe"]["denoising_strength"] == 0.75
        missing = client.post("/api/jobs", json={"recipe": {"init_image_hash": "0" * 64, "denoising_strength": 0.5}})
        assert missing.status_code == 404 and "no input image" in missing.json()["detail"]
        outpaint = client.post("/api/jobs", json={"recipe": {"prompt": "wider", "steps": 3, "seed": 2},
                                                  "init_image": _b64(init), "outpaint": "right=16"})
        assert outpaint.status_code == 201, outpaint.text
        recipe = outpaint.json()["recipe"]
        assert (recipe["width"], recipe["height"], recipe["masked_content"]) == (48, 32, "fill")
    assert events_until_done(live_server, outpaint.json()["id"])[-1]["state"] == "done"
