"""Helpers for live-server tests: a real uvicorn on 127.0.0.1 (a free port) in a thread, and the handle tests get."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from sfumato.server import create_app
from sfumato.settings import Settings


@dataclass(frozen=True)
class LiveServer:
    url: str
    home: Path

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **options)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/static/style.css", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"no server at {url} after {timeout} s")


def serve_in_thread(settings: Settings, **options: object) -> Iterator[str]:
    port = free_port()
    app = create_app(settings, **options)  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url)
    yield url
    server.should_exit = True
    thread.join(30)


