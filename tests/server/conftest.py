"""Live servers for the server tests: real uvicorn on 127.0.0.1 (a free port), a real Studio on tmp."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sfumato.server import Limits
from sfumato.settings import Settings
from tests.server.live import LiveServer, serve_in_thread


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server (with its job worker) shared by the server tests, so torch loads once."""
    import torch

    torch.set_num_threads(1)
    home = tmp_path_factory.mktemp("served-home")
    limits = Limits(max_side=512, max_steps=60, max_batch_size=4, max_batch_count=4, max_body_bytes=1_000_000)
    for url in serve_in_thread(Settings(home=home), limits=limits):
        yield LiveServer(url, home)


@pytest.fixture(scope="package")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that requires the token 'sesame' (no worker: only the guard is under test)."""
    home = tmp_path_factory.mktemp("guarded-home")
    for url in serve_in_thread(Settings(home=home), token="sesame", run_jobs=False):
        yield LiveServer(url, home)
