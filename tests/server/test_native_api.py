"""Native API over real HTTP: submit a Recipe, stream its events, fetch the picture and its recipe, search."""

from __future__ import annotations

import json

import pytest

from sfumato.infotext import recipe_from_infotext
from tests.server.live import LiveServer


def submit(server: LiveServer, **recipe: object) -> dict:
    with server.client() as client:
        response = client.post("/api/jobs", json={"recipe": recipe, "requested_by": "test"})
    assert response.status_code == 201, response.text
    return response.json()


def events_until_done(server: LiveServer, job_id: str) -> list[dict]:
    seen = []
    with server.client() as client, client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line.removeprefix("data: ")))
    return seen


def test_a_submitted_recipe_streams_progress_and_lands_in_the_library(live_server: LiveServer) -> None:
    job = submit(live_server, prompt="a native lighthouse", steps=12, seed=4242, batch_size=2)
    assert job["state"] == "queued" and job["recipe"]["seed"] == 4242 and job["requested_by"] == "test"
    events = events_until_done(live_server, job["id"])
    assert events[-1]["state"] == "done", events[-1]
    sampling = [e["progress"] for e in events if e["progress"] and e["progress"]["stage"] == "sample"]
    assert sampling and sampling[0]["steps"] == 12 and 0 < sampling[-1]["fraction"] <= 1
    previews = [p["preview"] for p in sampling if p["preview"] is not None]
    assert previews and all(p.startswith("data:image/png;base64,") for p in previews)  # live preview
    ids = events[-1]["picture_ids"]
    assert len(ids) == 2
    with live_server.client() as client:
        picture = client.get(f"/api/pictures/{ids[1]}").json()
        assert picture["seed"] == 4243 and picture["recipe"]["prompt"] == "a native lighthouse"
        png = client.get(picture["url"])
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
        read = client.post("/api/png-info", content=png.content, headers={"content-type": "application/octet-stream"})
        assert read.status_code == 200 and read.json()["source"] == "sfumato-json"
        assert read.json()["recipe"] == picture["recipe"]
        assert recipe_from_infotext(read.json()["infotext"]).seed == 4243
        found = client.get("/api/pictures", params={"q": "lighthouse"}).json()
        assert {p["id"] for p in found["pictures"]} >= set(ids)
        assert client.get("/api/pictures", params={"q": "zebra-not-there"}).json()["total"] == 0
        listed = client.get("/api/jobs", params={"state": "done"}).json()
        assert job["id"] in [j["id"] for j in listed]


def test_listings_and_openapi(live_server: LiveServer) -> None:
    with live_server.client() as client:
        models = client.get("/api/models").json()
        assert "sfumato-tiny" in [m["name"] for m in models]
        samplers = client.get("/api/samplers").json()
        assert "DPM++ 2M" in [s["name"] for s in samplers["samplers"]] and "Karras" in samplers["schedule_types"]
        assert client.get("/api/styles").json() == []
        schema = client.get("/openapi.json").json()
        assert {"/api/jobs", "/api/jobs/{job_id}/events", "/sdapi/v1/txt2img"} <= set(schema["paths"])
        assert client.get("/docs").status_code == 200


def test_cancelling_a_queued_job_and_unknown_jobs(live_server: LiveServer) -> None:
    with live_server.client() as client:
        slow = client.post("/api/jobs", json={"recipe": {"prompt": "slow", "steps": 60, "batch_count": 4}}).json()
        waiting = client.post("/api/jobs", json={"recipe": {"prompt": "never made", "steps": 4}}).json()
        cancelled = client.post(f"/api/jobs/{waiting['id']}/cancel").json()
        assert cancelled["state"] == "cancelled" and cancelled["picture_ids"] == []
        client.post(f"/api/jobs/{slow['id']}/cancel")
        assert events_until_done(live_server, slow["id"])[-1]["state"] == "cancelled"
        missing = client.get("/api/jobs/0123456789abcdef")
        assert missing.status_code == 404 and "job_id" in missing.json()["detail"]


@pytest.mark.parametrize(("recipe", "field"), [
    ({"width": 1024}, "width"), ({"steps": 61}, "steps"), ({"batch_size": 5}, "batch_size"),
    ({"sampler": "Euler b"}, "sampler"), ({"steps": "many"}, "steps"),
])
def test_requests_beyond_limits_or_rules_get_422_naming_the_field(live_server: LiveServer, recipe: dict,
                                                                  field: str) -> None:
    with live_server.client() as client:
        response = client.post("/api/jobs", json={"recipe": recipe})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and field in response.json()["detail"]
