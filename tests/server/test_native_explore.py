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
