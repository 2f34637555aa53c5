"""Suite-wide settings: offline hub, a throwaway sfumato home per test, artifacts folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The bulk of the suite runs on the untrained sfumato-tiny, where speed matters and CLIP-only features (embeddings,
# clip skip, Compel) are tested; tests/integration/test_embedded_default.py runs the real default, the embedded model.
os.environ.setdefault("SFUMATO_DEFAULT_MODEL", "sfumato-tiny")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty sfumato home; SFUMATO_HOME points at it so subprocesses use it too."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("SFUMATO_HOME", str(folder))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-empty"))
    return folder


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at (screenshots, sample pictures)."""
    folder = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
