"""Grid sheets: cell pictures pasted in rows and columns under their axis labels, with the axes in the PNG.

A sheet is `<name>.grid.png`; the catalog leaves such files out of the index (they are not one picture with
one recipe). Its `sfumato-grid` iTXt chunk holds JSON: the axes (name, label, values, value labels), this
sheet's Z value, the cell size and where the cells start, and every cell's place, picture file and recipe.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, UnidentifiedImageError

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput

CHUNK_GRID: Final = "sfumato-grid"
GRID_SUFFIX: Final = ".grid.png"
SHEET_SCHEMA_VERSION: Final = 1
_PAD: Final = 4


@dataclass(frozen=True)
class SheetLayout:
    """Where things are on a sheet: the label bands' sizes and the cell size."""

    columns: int
    rows: int
    cell_width: int
    cell_height: int
    left: int  # width of the row-label band
    top: int  # height of the title and column-label bands
    column_width: int  # the cell width, or wider when a label's longest word needs it (cells are centred)

    @property
    def size(self) -> tuple[int, int]:
        return self.left + self.columns * self.column_width, self.top + self.rows * self.cell_height

    def cell_origin(self, column: int, row: int) -> tuple[int, int]:
        centring = (self.column_width - self.cell_width) // 2
        return self.left + column * self.column_width + centring, self.top + row * self.cell_height


def _font(cell_width: int, cell_height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # A1111 sizes grid labels at (width + height) / 25 of a cell; 11 px keeps labels readable on tiny cells.
    return ImageFont.load_default(size=max(11, (cell_width + cell_height) // 25))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _band(draw: ImageDraw.ImageDraw, texts: Sequence[str], font: Any, width: int) -> tuple[list[list[str]], int]:
    wrapped = [_wrap(draw, text, font, width - 2 * _PAD) for text in texts]
    line_height = int(font.getbbox("Ag")[3]) + 2
    return wrapped, max((len(lines) for lines in wrapped), default=0) * line_height + 2 * _PAD if texts else 0


def draw_sheet(cells: Sequence[Image.Image], *, columns: int, column_labels: Sequence[str],
               row_labels: Sequence[str], title: str | None = None) -> tuple[Image.Image, SheetLayout]:
    """Paste `cells` (row by row) on white, column labels above, row labels to the left, `title` on top."""
    rows = -(-len(cells) // columns)
    width, height = cells[0].size
    font = _font(width, height)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = max(width * 3 // 4, 6 * int(getattr(font, "size", 11))) if row_labels else 0
    words = [word for label in column_labels for word in label.split(" ")]
    column_width = max([width, *(int(scratch.textlength(word, font=font)) + 2 * _PAD for word in words)])
    column_lines, column_band = _band(scratch, column_labels, font, column_width)
    row_lines, _ = _band(scratch, row_labels, font, left)
    title_lines, title_band = _band(scratch, [title] if title else [], font, left + columns * column_width)
    layout = SheetLayout(columns, rows, width, height, left, title_band + column_band, column_width)
    sheet = Image.new("RGB", layout.size, "white")
    draw = ImageDraw.Draw(sheet)
    line_height = int(font.getbbox("Ag")[3]) + 2
    for lines in title_lines:
        _text(draw, lines, font, (0, 0, layout.size[0], title_band), line_height)
    for index, lines in enumerate(column_lines):
        box = (left + index * column_width, title_band, left + (index + 1) * column_width, layout.top)
        _text(draw, lines, font, box, line_height)
    for index, lines in enumerate(row_lines):
        box = (0, layout.top + index * height, left, layout.top + (index + 1) * height)
        _text(draw, lines, font, box, line_height)
    for index, cell in enumerate(cells):
        row, column = divmod(index, columns)
        sheet.paste(cell.convert("RGB"), layout.cell_origin(column, row))
    return sheet, layout


def _text(draw: ImageDraw.ImageDraw, lines: list[str], font: Any, box: tuple[int, int, int, int],
          line_height: int) -> None:
    x0, y0, x1, y1 = box
    top = y0 + max(_PAD, (y1 - y0 - len(lines) * line_height) // 2)
    for number, line in enumerate(lines):
        draw.text(((x0 + x1) / 2, top + number * line_height), line, fill="black", font=font, anchor="ma")


def write_sheet(path: Path, sheet: Image.Image, metadata: Mapping[str, Any]) -> Path:
    """Write the sheet PNG with its `sfumato-grid` JSON chunk, atomically."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(CHUNK_GRID, json.dumps({"schema_version": SHEET_SCHEMA_VERSION, **metadata}, ensure_ascii=False))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", pnginfo=info)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_sheet(path: Path) -> dict[str, Any] | None:
    """A grid sheet's metadata, or None when `path` is a PNG without one; BadInput when it is no image."""
    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}).get(CHUNK_GRID)
    except (OSError, UnidentifiedImageError) as error:
        raise BadInput(f"{path}: cannot read it as an image ({error})") from error
    if text is None:
        return None
    try:
        data: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: its {CHUNK_GRID!r} chunk is not JSON ({error})") from error
    return data


def sheet_or_none(path: Path) -> dict[str, Any] | None:
    """`read_sheet`, with None for anything that is not a readable grid sheet (for readers that try others)."""
    try:
        return read_sheet(path)
    except BadInput:
        return None


def describe_sheet(data: Mapping[str, Any]) -> str:
    """A few lines for `sfumato info`: the axes and their values, and how many cells."""
    lines = [f"X/Y/Z grid sheet: {data['columns']} columns x {data['rows']} rows, {len(data['cells'])} cells"]
    for axis in data["axes"]:
        lines.append(f"{axis['axis'].upper()}: {axis['label']} = {', '.join(axis['value_labels'])}")
    if data.get("z_label"):
        lines.append(f"this sheet: {data['z_label']}")
    lines.append(f"base prompt: {data['base']['prompt']}")
    return "\n".join(lines)
