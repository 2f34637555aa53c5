"""Atomic file writes: write a hidden temp file beside the target, fsync it, rename it over the target.

Readers see the old file or the new one, never half of one. A crash (even SIGKILL) can leave at most a
hidden `.<name>.<random>.tmp` file behind, which the catalog may sweep up; the target stays untouched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Final

_MODES: Final[tuple[str, ...]] = ("wb", "w")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step."""
    with atomic_writer(path, "wb") as file:
        file.write(data)


@contextmanager
def atomic_writer(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a file to write; on a clean exit it replaces `path`, on any exception it is removed.

    `mode` is "wb" (bytes) or "w" (UTF-8 text, newlines written as given).
    """
    if mode not in _MODES:
        raise ValueError(f"atomic_writer: mode must be one of {_MODES}, got {mode!r}")
    target = Path(path)
    temp, fd = _create_temp(target)
    try:
        encoding, newline = ("utf-8", "") if mode == "w" else (None, None)
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_folder(target.parent)


def _create_temp(target: Path) -> tuple[Path, int]:
    # os.open with 0o666 lets the umask decide permissions, as a plain open() would; mkstemp's 0o600
    # would make every picture private to its writer.
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue


def _fsync_folder(folder: Path) -> None:
    # The rename itself lives in the folder's entry table; without this a power cut can undo it.
    if os.name == "nt":  # Windows cannot open a folder for fsync; NTFS journals the rename.
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
