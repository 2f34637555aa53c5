"""The A1111 API (/sdapi/v1) driven by the real `webuiapi` client over HTTP, plus the details clients rely on."""

from __future__ import annotations

import base64
import io
import json

import httpx
import webuiapi
from PIL import Image

from tests.server.live import LiveServer


def client_for(server: LiveServer) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(baseurl=f"{server.url}/sdapi/v1", sampler="Euler a", steps=6)


def test_webuiapi_txt2img_models_samplers_options_and_png_info(live_server: LiveServer) -> None:
    api = client_for(live_server)
    assert "sfumato-tiny" in api.util_get_model_names()
    assert {"Euler a", "DPM++ 2M"} <= {s["name"] for s in api.get_samplers()}
    api.util_set_model("sfumato-tiny")
    assert api.util_get_current_model() == "sfumato-tiny"

    result = api.txt2img(prompt="a webuiapi fox", negative_prompt="blurry", seed=77, width=64, height=64,
                         batch_size=2, cfg_scale=6)
    assert len(result.images) == 2 and result.images[0].size == (64, 64)
    assert result.info["all_seeds"] == [77, 78] and result.info["sampler_name"] == "Euler a"
    assert result.info["steps"] == 6 and result.info["negative_prompt"] == "blurry"
    assert "Seed: 78" in result.info["infotexts"][1]
    assert result.parameters["prompt"] == "a webuiapi fox"

    info = api.png_info(result.images[0])
    assert info.info.startswith("a webuiapi fox\nNegative prompt: blurry\nSteps: 6, Sampler: Euler a")
    params = info.json["parameters"]
    assert params["Seed"] == "77" and params["Size-1"] == "64" and params["CFG scale"] == "6.0"

    with live_server.client() as client:  # save_images defaults to false: nothing went into the library
        assert client.get("/api/pictures", params={"q": "webuiapi"}).json()["total"] == 0


def test_save_images_and_send_images_are_honoured(live_server: LiveServer) -> None:
    payload = {"prompt": "kept not sent", "width": 64, "height": 64, "steps": 3, "save_images": True,
               "send_images": False, "sampler_name": "DPM++ 2M Karras", "some_extension_field": {"x": 1}}
    with live_server.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["images"] == [] and isinstance(body["info"], str)
        info = json.loads(body["info"])
        assert info["sampler_name"] == "DPM++ 2M" and info["extra_generation_params"]["Schedule type"] == "Karras"
        assert client.get("/api/pictures", params={"q": "kept"}).json()["total"] == 1


def test_a_request_without_a_size_gets_the_models_native_size(live_server: LiveServer) -> None:
    # A1111 would draw 512 px; sfumato-tiny (like the embedded model) is a 64 px model.
    with live_server.client() as client:
        unsized = client.post("/sdapi/v1/txt2img", json={"prompt": "no size given", "steps": 2, "seed": 3})
        assert unsized.status_code == 200, unsized.text
        picture = Image.open(io.BytesIO(base64.b64decode(unsized.json()["images"][0])))
        assert picture.size == (64, 64) and json.loads(unsized.json()["info"])["width"] == 64
        sized = client.post("/sdapi/v1/txt2img", json={"prompt": "sized", "steps": 2, "width": 96, "height": 64})
        assert Image.open(io.BytesIO(base64.b64decode(sized.json()["images"][0]))).size == (96, 64)


def test_wrong_types_get_422_naming_the_field_and_unsupported_features_are_refused(live_server: LiveServer) -> None:
    with live_server.client() as client:
        wrong = client.post("/sdapi/v1/txt2img", json={"steps": "twenty", "width": 64})
        assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "steps"]
        tiled = client.post("/sdapi/v1/txt2img", json={"tiling": True, "width": 64, "height": 64})
        assert tiled.status_code == 422 and tiled.json()["error"] == "RecipeError"
        assert "tiling" in tiled.json()["detail"]
        big = client.post("/sdapi/v1/txt2img", json={"width": 4096, "height": 64})
        assert big.status_code == 422 and "at most 512" in big.json()["detail"]
        bad_model = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no-such-model"})
        assert bad_model.status_code == 404


def test_other_a1111_routes_answer_in_a1111_shapes(live_server: LiveServer) -> None:
    with live_server.client() as client:
        progress = client.get("/sdapi/v1/progress").json()
        assert {"progress", "eta_relative", "state", "current_image", "textinfo"} <= set(progress)
        assert {"job_count", "sampling_step", "sampling_steps"} <= set(progress["state"])
        schedulers = client.get("/sdapi/v1/schedulers").json()
        assert "Karras" in [s["label"] for s in schedulers]
        assert client.get("/sdapi/v1/loras").json() == []
        assert client.get("/sdapi/v1/embeddings").json() == {"loaded": {}, "skipped": {}}
        assert client.get("/sdapi/v1/styles").json() == []
        assert client.post("/sdapi/v1/refresh-checkpoints").json() is None
        assert client.post("/sdapi/v1/interrupt").json() == {}
        assert client.post("/sdapi/v1/skip").json() is None
        assert client.get("/sdapi/v1/memory").json()["ram"]["total"] > 0
        assert "X-Process-Time" in client.get("/sdapi/v1/options").headers
        blank = Image.new("RGB", (8, 8))
        buffer = io.BytesIO()
        blank.save(buffer, format="PNG")
        empty = client.post("/sdapi/v1/png-info", json={"image": base64.b64encode(buffer.getvalue()).decode()})
        assert empty.json() == {"info": "", "items": {}, "parameters": {}}


def test_interrupt_stops_a_running_txt2img_and_returns_what_was_made(live_server: LiveServer) -> None:
    import threading
    import time

    answer: dict = {}

    def ask() -> None:
        with live_server.client() as client:
            answer["response"] = client.post("/sdapi/v1/txt2img", json={
                "prompt": "interrupted", "width": 64, "height": 64, "steps": 60, "n_iter": 4})

    thread = threading.Thread(target=ask)
    thread.start()
    with httpx.Client(base_url=live_server.url) as client:
        for _ in range(300):
            if client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0:
                break
            time.sleep(0.05)
        client.post("/sdapi/v1/interrupt")
    thread.join(60)
    body = answer["response"].json()
    assert answer["response"].status_code == 200 and len(body["images"]) < 4
