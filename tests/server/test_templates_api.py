"""Templates, themes and styles through the A1111 API (/sdapi/v1/txt2img, prompt-styles) and the native API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfumato.errors import RecipeError
from sfumato.server.a1111_dynamic import template_mode
from tests.server.live import LiveServer

STYLES = 'name,prompt,negative_prompt\r\nInk,"{prompt}, ink drawing",blurry\r\n'


@pytest.fixture
def home_files(live_server: LiveServer) -> Iterator[Path]:
    """styles.csv, a wildcard and a theme in the served home, removed afterwards (other tests expect none)."""
    home = Path(live_server.home)
    written = [home / "styles.csv", home / "wildcards" / "moods.txt", home / "themes" / "owl.yaml"]
    for path in written:
        path.parent.mkdir(exist_ok=True)
    written[0].write_text(STYLES, encoding="utf-8", newline="")
    written[1].write_text("cozy\nhappy\nsleepy\n", encoding="utf-8")
    written[2].write_text("prompt:\n  subject: [owl, anthropomorphic]\n  mood: __moods__\nsettings: {steps: 2}\n",
                          encoding="utf-8")
    try:
        yield home
    finally:
        for path in written:
            path.unlink()


def wait_done(server: LiveServer, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job_id}").json()
            if job["state"] in ("done", "failed", "cancelled"):
                return job
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def test_a1111_txt2img_expands_a_template_after_applying_styles(live_server: LiveServer, home_files: Path) -> None:
    payload = {"prompt": "a {red|green|blue|gold} owl, __moods__", "styles": ["Ink"], "seed": 50, "batch_size": 3,
               "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}
    with live_server.client() as client:
        assert client.get("/sdapi/v1/prompt-styles").json() == [
            {"name": "Ink", "prompt": "{prompt}, ink drawing", "negative_prompt": "blurry"}]
        response = client.post("/sdapi/v1/txt2img", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 3 and info["all_seeds"] == [50, 51, 52]
    assert info["prompt"] == "a {red|green|blue|gold} owl, __moods__, ink drawing"  # the template, styled
    assert all(p.endswith(", ink drawing") and "{" not in p and "__" not in p for p in info["all_prompts"])
    assert len(set(info["all_prompts"])) > 1 and info["styles"] == ["Ink"]
    assert info["all_negative_prompts"] == ["blurry"] * 3
    for prompt, infotext in zip(info["all_prompts"], info["infotexts"]):
        assert infotext.startswith(prompt + "\nNegative prompt: blurry\n")
        assert 'Template: "a {red|green|blue|gold} owl, __moods__, ink drawing"' in infotext


def test_a1111_unknown_wildcard_and_style_are_422(live_server: LiveServer, home_files: Path) -> None:
    with live_server.client() as client:
        bad = client.post("/sdapi/v1/txt2img", json={"prompt": "an owl __colours__", "steps": 2, "width": 64,
                                                     "height": 64})
        assert bad.status_code == 422 and "unknown wildcard '__colours__'" in bad.text
        unknown = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "styles": ["Nope"], "steps": 2})
        assert unknown.status_code == 422 and "unknown style 'Nope'" in unknown.text


def test_native_api_theme_and_combinatorial_template(live_server: LiveServer, home_files: Path) -> None:
    request = {"recipe": {"prompt": "at dusk", "seed": 5, "width": 64, "height": 64, "sampler": "Euler"},
               "theme": "owl", "combinatorial": True, "requested_by": "test"}
    with live_server.client() as client:
        refused = client.post("/api/jobs", json=request)  # one job cannot hold three prompts
        assert refused.status_code == 422 and "/api/jobs/many" in refused.text
        response = client.post("/api/jobs/many", json=request)
        assert response.status_code == 201, response.text
        jobs = response.json()
        assert [job["recipe"]["prompt"] for job in jobs] == [
            f"owl, anthropomorphic, {mood}, at dusk" for mood in ("cozy", "happy", "sleepy")]
        assert [job["recipe"]["seed"] for job in jobs] == [5, 6, 7]
        assert {job["recipe"]["theme"] for job in jobs} == {"owl"} and jobs[0]["recipe"]["steps"] == 2
        assert jobs[0]["recipe"]["prompt_template"] == "owl, anthropomorphic, __moods__, at dusk"
        done = wait_done(live_server, jobs[2]["id"])
        assert done["state"] == "done", done
        picture = client.get(f"/api/pictures/{done['picture_ids'][0]}").json()
        assert picture["recipe"]["prompt"] == "owl, anthropomorphic, sleepy, at dusk"
        for job in jobs[:2]:
            assert wait_done(live_server, job["id"])["state"] == "done"
        escaped = client.post("/api/jobs", json={**request, "theme": "../owl"})
        assert escaped.status_code == 422  # a theme is a name in themes/, never a path on the server


def test_the_extensions_alwayson_scripts_entry_picks_the_mode() -> None:
    assert template_mode(None) == "random"  # A1111 with the extension installed expands by default
    assert template_mode({"Dynamic Prompts v2.17.1": {"args": [True, True]}}) == "combinatorial"
    assert template_mode({"dynamic prompts v2.16.0": {"args": [False]}}) is None
    with pytest.raises(RecipeError, match="is_magic_prompt is not supported"):
        template_mode({"Dynamic Prompts v2.17.1": {"args": [True, False, 1, True]}})


def test_a1111_combinatorial_through_alwayson_scripts(live_server: LiveServer) -> None:
    payload = {"prompt": "a {red|blue} kite", "seed": 8, "steps": 2, "width": 64, "height": 64,
               "alwayson_scripts": {"Dynamic Prompts v2.17.1": {"args": [True, True]}}}
    with live_server.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=payload)
        assert response.status_code == 200, response.text
        info = json.loads(response.json()["info"])
        assert info["all_prompts"] == ["a red kite", "a blue kite"] and info["all_seeds"] == [8, 9]
        other = client.post("/sdapi/v1/txt2img", json={**payload, "alwayson_scripts": {"ADetailer": {"args": []}}})
        assert other.status_code == 422 and "alwayson_scripts" in other.text
