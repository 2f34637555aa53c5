"""Safe by default: only library files are served, bodies and requests have limits, a token guards the APIs."""

from __future__ import annotations

import base64
import time

import pytest
from typer.testing import CliRunner

from sfumato.catalog import Catalog
from tests.server.live import LiveServer


def one_picture(server: LiveServer) -> dict:
    with server.client() as client:
        job = client.post("/api/jobs", json={"recipe": {"prompt": "guarded picture", "steps": 2}}).json()
        for _ in range(600):
            job = client.get(f"/api/jobs/{job['id']}").json()
            if job["state"] == "done":
                return client.get(f"/api/pictures/{job['picture_ids'][0]}").json()
            time.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


@pytest.mark.parametrize("path", [
    "/api/pictures/..%2F..%2F..%2Fetc%2Fpasswd/file",
    "/api/pictures/../../../etc/passwd/file",
    "/api/pictures/%2e%2e%2findex.sqlite3/file",
    "/static/..%2F..%2F..%2Fpyproject.toml",
    "/static/../../sfumato/server/app.py",
    "/api/pictures/0123456789abcdef/file",
])
def test_path_traversal_gets_4xx(live_server: LiveServer, path: str) -> None:
    with live_server.client() as client:
        response = client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
    assert b"root:" not in response.content and b"create_app" not in response.content


def test_a_symlink_out_of_the_library_is_not_served(live_server: LiveServer, tmp_path) -> None:
    picture = one_picture(live_server)
    library = live_server.home / "library"
    source = library / next(p for p in (library / "unsorted").glob(f"*{picture['id']}.png")).relative_to(library)
    outside = tmp_path / "outside"
    outside.mkdir()
    planted_id = "feedfacefeedface"
    name = source.name.replace(picture["id"], planted_id)
    (outside / name).write_bytes(source.read_bytes())
    (library / "unsorted" / name).symlink_to(outside / name)
    Catalog.open(library).close()  # indexes the planted link, as a reindex would
    with live_server.client() as client:
        assert client.get(f"/api/pictures/{planted_id}").status_code == 200  # the row exists...
        response = client.get(f"/api/pictures/{planted_id}/file")  # ...but its file lies outside
    assert response.status_code == 403 and "not inside the library" in response.json()["detail"]


def test_oversized_bodies_get_413_saying_what_is_allowed(live_server: LiveServer) -> None:
    big = b"\x89PNG" + b"\0" * 1_100_000
    with live_server.client() as client:
        declared = client.post("/api/png-info", content=big, headers={"content-type": "application/octet-stream"})
        assert declared.status_code == 413 and "at most 1000000 bytes" in declared.json()["detail"]
        streamed = client.post("/api/png-info", content=iter([big[:600_000], big[600_000:]]),
                               headers={"content-type": "application/octet-stream"})
        assert streamed.status_code == 413
        encoded = client.post("/sdapi/v1/png-info", json={"image": base64.b64encode(big).decode()})
        assert encoded.status_code == 413
        not_png = client.post("/api/png-info", content=b"hello", headers={"content-type": "application/octet-stream"})
        assert not_png.status_code == 400 and "not an image" in not_png.json()["detail"]


def test_a_token_guards_every_api_route_but_not_the_page(guarded_server: LiveServer) -> None:
    with guarded_server.client() as client:
        assert client.get("/").status_code == 200
        assert client.get("/static/app.js").status_code == 200
        for path in ("/api/models", "/sdapi/v1/sd-models", "/openapi.json", "/api/pictures/0123456789abcdef/file"):
            refused = client.get(path)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", path
        assert client.get("/api/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/models", headers={"Authorization": "Bearer sesame"}).status_code == 200
        assert client.get("/api/models", params={"token": "sesame"}).status_code == 200
        assert client.get("/sdapi/v1/sd-models", auth=("user", "sesame")).status_code == 200


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from sfumato.cli.serve import serve_command

    monkeypatch.delenv("SFUMATO_API_TOKEN", raising=False)
    app = typer.Typer()
    app.command()(serve_command)
    result = CliRunner().invoke(app, ["--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "needs an API token" in str(result.exception)
