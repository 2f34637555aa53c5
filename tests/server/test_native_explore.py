"""Native API: POST /api/grids and /api/walks queue every cell or frame as a job and write the sheets/animations."""

from __future__ import annotations

from PIL import Image

from sfumato.explore.grid_image import read_sheet
from tests.server.live import LiveServer

FAST = {"steps": 2, "width": 32, "height": 32, "seed": 6}


def test_grid_through_the_queue(live_server: LiveServer) -> None:
    with live_server.client() as client:
        answer = client.post("/api/grids", json={"recipe": {"prompt": "a {cat|dog}", **FAST}, "x": "seed: 6, 7"},
                             timeout=120)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["collection"].startswith("grids/") and len(body["picture_ids"]) == 4
        sheet = live_server.home / "library" / body["files"][0]
        meta = read_sheet(sheet)
        assert meta is not None
        assert [a["value_labels"] for a in meta["axes"]] == [["Seed: 6", "Seed: 7"], ["cat", "dog"]]
        assert {c["picture_id"] for c in meta["cells"]} == set(body["picture_ids"])
        jobs = client.get("/api/jobs").json()
        assert sum(1 for job in jobs if job["requested_by"] == "explore") >= 4
        picture = client.get(f"/api/pictures/{body['picture_ids'][3]}").json()
        assert (picture["recipe"]["seed"], picture["recipe"]["prompt"]) == (7, "a dog")
        bad = client.post("/api/grids", json={"recipe": {"prompt": "a cat"}, "x": "steps: 1-3 [x]"})
        assert bad.status_code == 400 and "steps" in bad.json()["detail"]


def test_walk_through_the_queue(live_server: LiveServer) -> None:
    with live_server.client() as client:
        answer = client.post("/api/walks", json={"recipe": {"prompt": "a red apple", **FAST}, "to_seed": 9,
                                                 "to_prompt": "a pear", "frames": 3, "formats": ["gif"]},
                             timeout=120)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [name.rsplit(".", 1)[1] for name in body["files"]] == ["gif", "json"]
        with Image.open(live_server.home / "library" / body["files"][0]) as gif:
            assert gif.n_frames == 3
        last = client.get(f"/api/pictures/{body['picture_ids'][2]}").json()["recipe"]
        assert (last["subseed"], last["subseed_strength"], last["mix_prompt"], last["mix_factor"]) == \
            (9, 1.0, "a pear", 1.0)
        refused = client.post("/api/walks", json={"recipe": {"prompt": "x"}, "to_seed": 1, "formats": ["avi"]})
        assert refused.status_code == 422


def test_grid_plan_and_explore_files(live_server: LiveServer) -> None:
    """What the web studio's Explore tab needs: the cell count before a grid runs, and its sheets served back."""
    with live_server.client() as client:
        plan = client.post("/api/grids/plan", json={"recipe": {"prompt": "a {cat|dog|eel}", **FAST}, "x": "seed: 1-2"})
        assert plan.status_code == 200, plan.text
        assert plan.json() == {"cells": 6, "axes": [
            {"axis": "x", "label": "Seed", "value_labels": ["Seed: 1", "Seed: 2"]},
            {"axis": "y", "label": "Prompt S/R", "value_labels": ["cat", "dog", "eel"]}]}
        body = client.post("/api/grids", json={"recipe": {"prompt": "a {cat|dog}", **FAST}}, timeout=120).json()
        assert body["sheets"][0]["columns"] == 2 and len(body["sheets"][0]["cells"]) == 2
        served = client.get(f"/api/explore-files/{body['files'][0]}")
        assert served.status_code == 200 and served.content == (live_server.home / "library" / body["files"][0]).read_bytes()
        # Only grid and walk files inside the library: no climbing out, no plain pictures or other files.
        climbing = client.get("/api/explore-files/..%2F..%2Fsecrets.json")
        assert climbing.status_code == 400 and "inside the library" in climbing.json()["detail"]
        cell_file = f"{body['collection']}/{body['sheets'][0]['cells'][0]['file']}"
        assert (live_server.home / "library" / cell_file).is_file()
        assert client.get(f"/api/explore-files/{cell_file}").status_code == 400
        assert client.get(f"/api/explore-files/{body['collection']}/nothing.gif").status_code == 404
