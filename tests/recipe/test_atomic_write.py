"""Atomic writes: readers see the old file or the new one; a crash or an exception never leaves half a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sfumato.atomic_write import atomic_write_bytes, atomic_writer

ROOT = Path(__file__).resolve().parents[2]

# Writes ~1 GiB in 1 MiB chunks through atomic_writer; says "writing" once 8 MiB are in the temp file and
# then keeps going slowly, so the parent's SIGKILL always lands in the middle of the write.
CHILD = """
import sys, time
from pathlib import Path
from sfumato.atomic_write import atomic_writer
with atomic_writer(Path(sys.argv[1])) as file:
    for i in range(1024):
        file.write(b"N" * (1 << 20))
        if i == 7:
            file.flush()
            print("writing", flush=True)
        if i >= 7:
            time.sleep(0.05)
"""


def _visible(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def test_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "picture.png"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert list(tmp_path.iterdir()) == [target]


def test_text_mode_writes_utf8_as_given(tmp_path: Path) -> None:
    target = tmp_path / "picture.yaml"
    with atomic_writer(target, "w") as file:
        file.write("prompt: 猫\r\nseed: 1\n")
    assert target.read_bytes() == "prompt: 猫\r\nseed: 1\n".encode()


def test_new_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_exception_leaves_target_untouched_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "picture.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_writer(target) as file:
        file.write(b"new but partial")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_writer(tmp_path / "a", "a"):
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_midway_keeps_old_content_and_no_visible_partial(tmp_path: Path) -> None:
    target = tmp_path / "picture.png"
    target.write_bytes(b"old picture")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        temps = [path for path in tmp_path.iterdir() if path != target]
        assert len(temps) == 1 and temps[0].stat().st_size >= 8 << 20  # the payload really is on its way
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old picture"
    assert _visible(tmp_path) == ["picture.png"]
    leftovers = [path.name for path in tmp_path.iterdir() if path != target]
    assert all(name.startswith(".picture.png.") and name.endswith(".tmp") for name in leftovers)
