"""Pictures in requests: base64 (A1111 style, data-URI prefix allowed) or raw bytes -> the recipe they carry."""

from __future__ import annotations

import base64
import binascii
import tempfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from sfumato.errors import BadInput
from sfumato.picture_file import PictureMetadata, read_metadata


def decode_base64_image(text: str, *, field: str = "image") -> bytes:
    """Bytes of an A1111 request image: base64, optionally behind a `data:image/...;base64,` prefix."""
    if text.startswith("data:"):
        text = text.split(";", 1)[-1].split(",", 1)[-1]
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as error:
        raise BadInput(f"{field}: not valid base64 ({error})") from error


def read_picture_bytes(data: bytes) -> PictureMetadata:
    """The recipe a picture file's bytes carry (sfumato JSON, A1111 infotext, ComfyUI graph)."""
    if not data:
        raise BadInput("picture: the upload is empty; send the bytes of a PNG, JPEG or WebP file")
    with tempfile.TemporaryDirectory(prefix="sfumato-upload-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            with Image.open(path) as image:
                suffix = "." + (image.format or "png").lower()
        except (UnidentifiedImageError, OSError) as error:
            raise BadInput("picture: not an image file (PNG, JPEG or WebP expected)") from error
        named = path.rename(path.with_suffix(suffix))
        try:
            return read_metadata(named)
        except BadInput as error:
            # The temporary path means nothing to the person; say what was looked for.
            raise BadInput(error.message.replace(str(named), "the uploaded picture"), hint=error.hint) from error


def text_chunks(data: bytes) -> dict[str, str]:
    """A picture's text chunks (PNG tEXt/iTXt), for A1111's png-info `items`."""
    with tempfile.TemporaryFile() as file:
        file.write(data)
        file.seek(0)
        try:
            with Image.open(file) as image:
                return {str(k): v for k, v in image.info.items() if isinstance(v, str)}
        except (UnidentifiedImageError, OSError) as error:
            raise BadInput("image: not an image file (PNG, JPEG or WebP expected)") from error
