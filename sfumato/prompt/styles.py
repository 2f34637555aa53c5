"""Prompt styles in A1111's `styles.csv` (name, prompt, negative_prompt): read, applied, saved, deleted.

Applying follows A1111's `modules/styles.py::merge_prompts`: a style text holding `{prompt}` gets the prompt put
in its place; otherwise the style text is appended after ", " (both sides stripped, empty sides skipped).
Saving rewrites the file atomically and keeps every other row, comment row and column (in order) as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput, RecipeError

STYLES_FILE: Final = "styles.csv"
COLUMNS: Final = ("name", "prompt", "negative_prompt")
_BOM: Final = "\ufeff"


class Style(BaseModel):
    """One named preset: text merged into the prompt and into the negative prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    prompt: str = ""
    negative_prompt: str = ""


class UnknownStyle(RecipeError):
    """A style name that is not in styles.csv; the message lists the names there are."""


def styles_path(home: Path) -> Path:
    return home / STYLES_FILE


def merge_prompts(style_text: str, prompt: str) -> str:
    """A1111's merge_prompts: `{prompt}` is replaced by the prompt, else the style is appended with ", "."""
    if "{prompt}" in style_text:
        return style_text.replace("{prompt}", prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


@dataclass(frozen=True)
class _Table:
    """styles.csv as read: the header (column order kept), the rows as lists, and whether it had a BOM."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    bom: bool

    def column(self, name: str) -> int | None:
        return self.header.index(name) if name in self.header else None


def _read_table(path: Path) -> _Table:
    if not path.is_file():
        return _Table(COLUMNS, (), bom=True)  # A1111 writes utf-8-sig, so a new file gets a BOM too
    try:
        text = path.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text.removeprefix(_BOM)), skipinitialspace=True))
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise BadInput(f"styles file {str(path)!r} cannot be read ({error})") from error
    if not rows:
        return _Table(COLUMNS, (), bom=text.startswith(_BOM))
    header = tuple(cell.strip() for cell in rows[0])
    if "name" not in header:
        raise BadInput(f"styles file {str(path)!r}: the first row must name the columns, with a 'name' column "
                       f"(A1111: name,prompt,negative_prompt); got {list(header)}")
    return _Table(header, tuple(tuple(row) for row in rows[1:]), bom=text.startswith(_BOM))


def _cell(table: _Table, row: Sequence[str], name: str) -> str:
    index = table.column(name)
    return row[index] if index is not None and index < len(row) else ""


def _style_of(table: _Table, row: Sequence[str]) -> Style | None:
    name = _cell(table, row, "name")
    if not name or name.startswith("#"):  # A1111 skips empty rows and rows starting with a comment
        return None
    # A1111's first format had a "text" column instead of "prompt".
    prompt = _cell(table, row, "prompt") if "prompt" in table.header else _cell(table, row, "text")
    return Style(name=name, prompt=prompt, negative_prompt=_cell(table, row, "negative_prompt"))


def load_styles(home: Path) -> list[Style]:
    """The styles in `<home>/styles.csv` in file order (a repeated name: the last row wins, as in A1111)."""
    table = _read_table(styles_path(home))
    found: dict[str, Style] = {}
    for row in table.rows:
        if (style := _style_of(table, row)) is not None:
            found[style.name] = style
    return list(found.values())


def find_style(name: str, styles: Iterable[Style]) -> Style:
    by_name = {style.name: style for style in styles}
    if name not in by_name:
        allowed = ", ".join(repr(n) for n in by_name) or "none (there is no styles.csv in the sfumato home)"
        raise UnknownStyle(f"styles: unknown style {name!r}; styles there are: {allowed}", field="styles")
    return by_name[name]


def apply_styles(prompt: str, negative: str, names: Iterable[str], styles: Iterable[Style]) -> tuple[str, str]:
    """The prompt and negative prompt with each named style applied in order (A1111's order)."""
    known = list(styles)
    for name in names:
        style = find_style(name, known)
        prompt, negative = merge_prompts(style.prompt, prompt), merge_prompts(style.negative_prompt, negative)
    return prompt, negative


def _write_table(path: Path, table: _Table) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # csv's default, as A1111's DictWriter writes
    writer.writerow(table.header)
    writer.writerows(table.rows)
    text = (_BOM if table.bom else "") + buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


def save_style(home: Path, style: Style) -> bool:
    """Add `style`, or replace the row(s) of that name in place; True when it replaced one. Atomic."""
    path = styles_path(home)
    table = _read_table(path)
    header = table.header + tuple(column for column in COLUMNS if column not in table.header)
    table = _Table(header, table.rows, table.bom)
    values = {"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt}
    rows: list[tuple[str, ...]] = []
    replaced = False
    for row in table.rows:
        if _style_of(table, row) is not None and _cell(table, row, "name") == style.name:
            if replaced:
                continue  # a repeated name collapses into the one row A1111 would have used
            cells = list(row) + [""] * (len(header) - len(row))
            row = tuple(values.get(column, cells[i]) for i, column in enumerate(header))
            replaced = True
        rows.append(row)
    if not replaced:
        rows.append(tuple(values.get(column, "") for column in header))
    _write_table(path, _Table(header, tuple(rows), table.bom))
    return replaced


def delete_style(home: Path, name: str) -> Style:
    """Remove the style's row(s); the other rows stay as they were. Raises UnknownStyle when absent."""
    path = styles_path(home)
    table = _read_table(path)
    style = find_style(name, load_styles(home))
    rows = tuple(row for row in table.rows if _style_of(table, row) is None or _cell(table, row, "name") != name)
    _write_table(path, _Table(table.header, rows, table.bom))
    return style
