"""Source pictures: find each style's pictures by codepoint key, and render one to a white-backed RGB square.

PNG and WebP are decoded by Pillow; SVG (files, or IconifyJSON bodies) is rasterised by resvg-py,
because Pillow cannot read SVG.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import resvg_py
from PIL import Image

from sfumato.errors import BadInput
from sfumato.train.emoji.codepoints import codepoint_key
from sfumato.train.emoji.sources import ImageLayout, ImageSource

PICTURE_SUFFIXES: Final[frozenset[str]] = frozenset({".png", ".webp", ".svg"})
_CODEPOINT_NAME: Final = re.compile(r"[0-9a-fA-F]{2,6}([-_][0-9a-fA-F]{2,6})*")
# SVG is drawn at 4x the target size and then Lanczos-resized, like the 256 px WebPs, so every style
# gets the same downsampling; drawing at 64 px directly gives harder, aliased edges.
SVG_SUPERSAMPLE: Final = 4


@dataclass(frozen=True)
class PictureRef:
    key: str
    name: str  # the file or icon name inside the package, recorded in metadata
    path: Path | None = None  # a picture file
    svg: str | None = None  # or SVG markup built from an icon set


def find_pictures(
    source: ImageSource,
    root: Path,
    chars_root: Path | None,
    *,
    names: Mapping[str, str] = MappingProxyType({}),
) -> tuple[Mapping[str, PictureRef], int]:
    """The style's pictures by key, and how many files were ignored because their names are no codepoints.

    `names` maps label slugs to keys ("cat-face" -> "1F431"): icon names that chars.json leaves out are
    matched through it.
    """
    if source.layout is ImageLayout.ICONIFY:
        if chars_root is None or source.chars_path is None:
            raise BadInput(f"style {source.style!r}: an icon set needs a chars.json to map codepoints")
        return _iconify_pictures(root / source.path, chars_root / source.chars_path, names), 0
    pictures: dict[str, PictureRef] = {}
    ignored = 0
    for path in sorted((root / source.path).iterdir()):
        if path.suffix.lower() not in PICTURE_SUFFIXES:
            continue
        if not _CODEPOINT_NAME.fullmatch(path.stem):
            ignored += 1
            continue
        key = codepoint_key(path.stem)
        pictures.setdefault(key, PictureRef(key, path.name, path=path))
    return MappingProxyType(pictures), ignored


def _iconify_pictures(
    icons_json: Path, chars_json: Path, names: Mapping[str, str]
) -> Mapping[str, PictureRef]:
    icon_set = json.loads(icons_json.read_text(encoding="utf-8"))
    chars: dict[str, str] = json.loads(chars_json.read_text(encoding="utf-8"))
    # chars.json maps icons only, not aliases: "backhand-index-pointing-right" (a mirrored alias of
    # "...-left") is reachable only by its name, which is the emoji's label in kebab case.
    mapped = set(chars.values())
    unmapped = sorted((set(icon_set.get("icons", {})) | set(icon_set.get("aliases", {}))) - mapped)
    keys = {codepoint_key(code) for code in chars}
    chars.update({names[name]: name for name in unmapped if name in names and names[name] not in keys})
    pictures: dict[str, PictureRef] = {}
    for code, name in sorted(chars.items()):
        svg = iconify_svg(icon_set, name)
        if svg is not None:
            key = codepoint_key(code)
            pictures.setdefault(key, PictureRef(key, name, svg=svg))
    return MappingProxyType(pictures)


def iconify_svg(icon_set: Mapping[str, Any], name: str) -> str | None:
    """Standalone SVG markup for one icon of an IconifyJSON set, following aliases (and their mirroring)."""
    flip = False
    for _ in range(8):  # aliases chain at most a few levels; the bound stops a cycle
        alias = icon_set.get("aliases", {}).get(name)
        if alias is None:
            break
        flip ^= bool(alias.get("hFlip", False))
        name = alias["parent"]
    icon = icon_set.get("icons", {}).get(name)
    if icon is None:
        return None
    width = icon.get("width", icon_set.get("width", 16))
    height = icon.get("height", icon_set.get("height", 16))
    left, top = icon.get("left", 0), icon.get("top", 0)
    body = icon["body"]
    if flip ^ bool(icon.get("hFlip", False)):
        body = f'<g transform="translate({2 * left + width} 0) scale(-1 1)">{body}</g>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="{left} {top} {width} {height}">{body}</svg>'
    )


def rasterise_svg(svg: str, px: int) -> Image.Image:
    """SVG markup -> an RGBA picture `px` wide and high (resvg-py; system fonts skipped for repeatability)."""
    try:
        png = resvg_py.svg_to_bytes(svg_string=svg, width=px, height=px, skip_system_fonts=True)
    except Exception as e:  # resvg-py raises plain exceptions for markup it cannot parse
        raise BadInput(f"SVG could not be rasterised: {e}") from e
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


def load_rgba(ref: PictureRef, size: int) -> Image.Image:
    """The source picture as RGBA at its own resolution (SVG drawn at SVG_SUPERSAMPLE x `size`)."""
    if ref.svg is not None:
        return rasterise_svg(ref.svg, SVG_SUPERSAMPLE * size)
    assert ref.path is not None  # a PictureRef has a path or SVG markup
    if ref.path.suffix.lower() == ".svg":
        return rasterise_svg(ref.path.read_text(encoding="utf-8"), SVG_SUPERSAMPLE * size)
    with Image.open(ref.path) as image:
        return image.convert("RGBA")


def on_white(rgba: Image.Image, size: int) -> Image.Image:
    """Centre on a square, composite over white, then Lanczos-resize to `size` (compositing first keeps
    transparent edges from darkening)."""
    side = max(rgba.size)
    square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    square.alpha_composite(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    rgb = square.convert("RGB")
    return rgb if rgb.size == (size, size) else rgb.resize((size, size), Image.Resampling.LANCZOS)


def render(ref: PictureRef, size: int) -> Image.Image:
    """One training picture: RGB, `size` x `size`, white background."""
    return on_white(load_rgba(ref, size), size)


def png_bytes(image: Image.Image) -> bytes:
    """PNG without metadata chunks at a fixed compression level: the same pixels give the same bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()
