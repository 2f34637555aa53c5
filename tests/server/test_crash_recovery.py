"""Kill the server process mid-job (SIGKILL), start it again: the job is retried, and no picture is written twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.live import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
# `sfumato serve` as the lead mounts it, without depending on the mount.
SERVE = "import typer; from sfumato.cli.serve import serve_command; app = typer.Typer(); app.command()(serve_command); app()"


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SFUMATO_HOME": str(home), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", SERVE, "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_up(f"http://127.0.0.1:{port}", timeout=60)
    return process


def poll(client: httpx.Client, job_id: str, until: object, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if until(job):  # type: ignore[operator]
            return job
        time.sleep(0.05)
    raise AssertionError(f"job never got there: {job}")


def test_a_job_killed_mid_run_is_retried_once_without_duplicate_pictures(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    server = start_server(home, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            job = client.post("/api/jobs", json={"recipe": {
                "prompt": "survives a crash", "steps": 25, "batch_size": 1, "batch_count": 3, "seed": 500}}).json()
            # Kill once the first picture is saved and the second batch is sampling.
            poll(client, job["id"], lambda j: len(j["picture_ids"]) == 1 and j["state"] == "running"
                 and (j["progress"] or {}).get("batch") == 1 and (j["progress"] or {}).get("step", 0) > 0)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        first_picture = list((home / "library").rglob("*.png"))
        assert len(first_picture) == 1

        server = start_server(home, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            done = poll(client, job["id"], lambda j: j["state"] in ("done", "failed", "cancelled"))
            assert done["state"] == "done", done
            assert done["attempts"] == 2 and "stopped while this job ran" in done["note"]
            assert len(set(done["picture_ids"])) == 3
            seeds = [client.get(f"/api/pictures/{pid}").json()["seed"] for pid in done["picture_ids"]]
            assert seeds == [500, 501, 502]
            assert client.get("/api/pictures", params={"q": "crash"}).json()["total"] == 3
        files = sorted((home / "library").rglob("*.png"))
        assert len(files) == 3 and first_picture[0] in files  # the saved one was kept, not made again
    finally:
        server.kill()
        server.wait(10)
