"""Input images (img2img init images, inpainting masks) kept in the library, named by the sha256 of their pixels.

They live in `<library>/.inputs/<sha256>.png`: a hidden folder, so reindexing never takes them for pictures. A
Recipe names them by hash only; the engine reads them back through `open`, so `sfumato again` can remake an
img2img picture from the picture file and its library alone.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from PIL import Image, UnidentifiedImageError

from sfumato.atomic_write import atomic_write_bytes
from sfumato.catalog.outpaint import Outpaint, outpaint_canvas
from sfumato.errors import BadInput

InputKind = Literal["image", "mask"]
# Init images are RGB and masks 8-bit grey (white = inpaint), as A1111 reads them (`convert("L")`).
MODES: Final[Mapping[str, str]] = MappingProxyType({"image": "RGB", "mask": "L"})
FOLDER: Final = ".inputs"
_HASH: Final = re.compile(r"^[0-9a-f]{64}$")


class InputImageMissing(BadInput):
    """A recipe names an init image or mask the library does not hold."""

    http_status = 404


def image_sha256(image: Image.Image) -> str:
    """sha256 over the mode, size and pixels: the same picture gives the same hash whatever file it came in."""
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def normalised(image: Image.Image, kind: InputKind) -> Image.Image:
    """The image as the engine uses it: RGB for init images, grey for masks."""
    return image if image.mode == MODES[kind] else image.convert(MODES[kind])


def decode_image(data: bytes, *, field: str) -> Image.Image:
    """A PIL image from uploaded bytes; BadInput naming `field` when they are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy() if image.mode != "P" else image.convert("RGBA")
    except (UnidentifiedImageError, OSError) as error:
        raise BadInput(f"{field}: not an image file (PNG, JPEG or WebP expected), {len(data)} bytes received") \
            from error


class InputImages:
    """The library's store of input images; writes are atomic and idempotent (content-addressed)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / f"{sha256}.png"

    def put(self, image: Image.Image, *, kind: InputKind) -> str:
        """Keep `image` (converted for its kind) and return its hash."""
        image = normalised(image, kind)
        sha256 = image_sha256(image)
        path = self.path(sha256)
        if not path.is_file():
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buffer.getvalue())
        return sha256

    def put_bytes(self, data: bytes, *, kind: InputKind, field: str) -> str:
        return self.put(decode_image(data, field=field), kind=kind)

    def open(self, sha256: str) -> Image.Image:
        """The image stored under `sha256`, loaded into memory."""
        path = self.path(sha256) if _HASH.match(sha256) else None
        if path is None or not path.is_file():
            raise InputImageMissing(
                f"init_image_hash/mask_hash: no input image {sha256!r} in {self.root}",
                hint="input images are kept in the library's .inputs folder; give the image again",
            )
        with Image.open(path) as image:
            image.load()
            return image.copy()


@dataclass(frozen=True)
class StoredInputs:
    """What an edge puts in a Recipe after keeping its images: hashes, and the canvas size snapped to 8."""

    init_image_hash: str
    mask_hash: str | None
    width: int
    height: int

    def fields(self) -> dict[str, Any]:
        return {"init_image_hash": self.init_image_hash, "mask_hash": self.mask_hash}


def store_inputs(store: InputImages, init: Image.Image, *, mask: Image.Image | None = None,
                 outpaint: Outpaint | None = None) -> StoredInputs:
    """Keep an init image (and mask) for a Recipe; with `outpaint`, keep the padded canvas and its margin mask."""
    if outpaint is not None and not outpaint.is_empty:
        if mask is not None:
            raise BadInput("mask: outpainting makes its own mask (the new margins); give --outpaint or a mask, "
                           "not both")
        init, mask = outpaint_canvas(init, outpaint)
    init_hash = store.put(init, kind="image")
    mask_hash = store.put(mask, kind="mask") if mask is not None else None
    return StoredInputs(init_hash, mask_hash, max(8, init.width // 8 * 8), max(8, init.height // 8 * 8))
