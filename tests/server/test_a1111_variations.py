"""A1111's variation seed over /sdapi/v1/txt2img, driven by the real `webuiapi` client."""

from __future__ import annotations

import json

import numpy as np
import webuiapi

from tests.server.live import LiveServer


def test_txt2img_variation_seed_and_strength(live_server: LiveServer) -> None:
    api = webuiapi.WebUIApi(baseurl=f"{live_server.url}/sdapi/v1", sampler="DPM++ 2M", steps=3)
    common = {"prompt": "a varied owl", "seed": 5, "width": 64, "height": 64}
    varied = api.txt2img(**common, subseed=9, subseed_strength=0.3, batch_size=2)
    assert varied.info["all_seeds"] == [5, 5] and varied.info["all_subseeds"] == [9, 10]
    assert varied.info["subseed_strength"] == 0.3
    assert "Variation seed: 10, Variation seed strength: 0.3" in varied.info["infotexts"][1]
    params = api.png_info(varied.images[1]).json["parameters"]
    assert (params["Seed"], params["Variation seed"], params["Variation seed strength"]) == ("5", "10", "0.3")

    plain = api.txt2img(**common)
    at_zero = api.txt2img(**common, subseed=9, subseed_strength=0)  # A1111: strength 0 is no variation at all
    np.testing.assert_array_equal(np.asarray(at_zero.image), np.asarray(plain.image))
    assert at_zero.info["all_subseeds"] == [-1]
    assert not np.array_equal(np.asarray(varied.images[0]), np.asarray(plain.image))


def test_random_subseed_and_seed_resize(live_server: LiveServer) -> None:
    with live_server.client() as client:
        answer = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "width": 64, "height": 64, "steps": 2,
                                                        "subseed": -1, "subseed_strength": 0.5})
        assert answer.status_code == 200, answer.text
        info = json.loads(answer.json()["info"])
        assert info["all_subseeds"][0] >= 0 and info["subseed_strength"] == 0.5
        resized = client.post("/sdapi/v1/txt2img", json={"seed_resize_from_w": 32, "seed_resize_from_h": 48,
                                                         "width": 64, "height": 64, "steps": 2, "seed": 3})
        assert resized.status_code == 200, resized.text
        info = json.loads(resized.json()["info"])
        assert (info["seed_resize_from_w"], info["seed_resize_from_h"]) == (32, 48)
        assert "Seed resize from: 32x48" in info["infotexts"][0]
