"""A1111's /sdapi/v1/img2img with a variation seed: subseed and subseed_strength reach the engine and the infotext."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from tests.server.live import LiveServer
from tests.server.test_img2img_api import _b64, _noise


def _picture(body: dict[str, object]) -> np.ndarray:
    images = body["images"]
    assert isinstance(images, list)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(images[0]))).convert("RGB"))


def test_img2img_takes_a_variation_seed(live_server: LiveServer) -> None:
    payload = {"init_images": [_b64(_noise((32, 32), 4))], "prompt": "a varied owl", "width": 32, "height": 32,
               "steps": 3, "seed": 5, "sampler_name": "DPM++ 2M", "denoising_strength": 0.6}
    with live_server.client() as client:
        varied = client.post("/sdapi/v1/img2img", json={**payload, "subseed": 9, "subseed_strength": 0.5})
        assert varied.status_code == 200, varied.text
        info = json.loads(varied.json()["info"])
        assert info["subseed"] == 9 and info["subseed_strength"] == 0.5
        assert "Variation seed: 9, Variation seed strength: 0.5" in info["infotexts"][0]
        whole = client.post("/sdapi/v1/img2img", json={**payload, "subseed": 9, "subseed_strength": 1})
        seed9 = client.post("/sdapi/v1/img2img", json={**payload, "seed": 9})
        plain = client.post("/sdapi/v1/img2img", json=payload)
    np.testing.assert_array_equal(_picture(whole.json()), _picture(seed9.json()))
    assert np.abs(_picture(varied.json()).astype(int) - _picture(plain.json())).max() > 0

