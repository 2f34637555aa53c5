"""The server, the job queue and `sfumato serve` load without torch (the engine loads in the worker thread only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["sfumato.server", "sfumato.jobs", "sfumato.cli.serve"])
def test_module_does_not_import_torch(module: str) -> None:
    code = (f"import {module}, sys; heavy = {{'torch', 'diffusers', 'transformers'}} & set(sys.modules); "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_app_schema_builds_without_torch() -> None:
    code = ("import sys; from sfumato.server import create_app; from sfumato.settings import Settings; "
            "app = create_app(Settings(home='/nonexistent-never-opened')); schema = app.openapi(); "
            "assert '/sdapi/v1/txt2img' in schema['paths']; assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
