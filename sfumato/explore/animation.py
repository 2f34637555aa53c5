"""Animations of a walk's frames: animated WebP and GIF (Pillow) and MP4 (PyAV, whose wheel carries FFmpeg).

Every file is encoded in memory and written atomically. MP4 is skipped, with the reason returned, when PyAV
is not installed.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final

from PIL import Image

from sfumato.atomic_write import atomic_write_bytes


def _pillow(format_name: str, **options: object) -> Callable[[Sequence[Image.Image], int], bytes]:
    def encode(frames: Sequence[Image.Image], fps: int) -> bytes:
        buffer = io.BytesIO()
        first, *rest = [frame.convert("RGB") for frame in frames]
        # duration is per frame in ms; loop=0 repeats forever.
        first.save(buffer, format=format_name, save_all=True, append_images=rest, duration=round(1000 / fps),
                   loop=0, **options)
        return buffer.getvalue()

    return encode


def _mp4(frames: Sequence[Image.Image], fps: int) -> bytes:
    import av  # optional: imported only when an MP4 is asked for

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        # yuv420p halves the chroma planes: sides must be even (pictures are multiples of 8 anyway).
        stream.width, stream.height = frames[0].width // 2 * 2, frames[0].height // 2 * 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}  # visually lossless for small pictures
        for frame in frames:
            image = frame.convert("RGB").crop((0, 0, stream.width, stream.height))
            container.mux(stream.encode(av.VideoFrame.from_image(image)))  # type: ignore[no-untyped-call]
        container.mux(stream.encode())  # flush the encoder's delayed frames
    return buffer.getvalue()


# Suffix -> encoder. lossless WebP keeps every frame exactly; GIF is limited to 256 colours per frame.
ENCODERS: Final[Mapping[str, Callable[[Sequence[Image.Image], int], bytes]]] = MappingProxyType({
    "webp": _pillow("WEBP", lossless=True),
    "gif": _pillow("GIF", optimize=False, disposal=1),
    "mp4": _mp4,
})


def mp4_available() -> bool:
    return importlib.util.find_spec("av") is not None


def write_animations(frames: Sequence[Image.Image], stem: Path, *, fps: int,
                     formats: Sequence[str] = tuple(ENCODERS)) -> tuple[list[Path], list[str]]:
    """Write `<stem>.<format>` for each format; returns the paths written and notes on formats skipped."""
    written, notes = [], []
    for suffix in formats:
        if suffix == "mp4" and not mp4_available():
            notes.append("MP4 skipped: PyAV (the `av` package) is not installed")
            continue
        path = stem.with_name(f"{stem.name}.{suffix}")
        atomic_write_bytes(path, ENCODERS[suffix](frames, fps))
        written.append(path)
    return written, notes
