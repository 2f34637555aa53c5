"""Prompt styles in A1111's `styles.csv` format (name, prompt, negative_prompt) read from the sfumato home.

A style's prompt either holds `{prompt}` (replaced by the user's prompt) or is appended after ", ", as A1111 does.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sfumato.errors import BadInput

STYLES_FILE: Final = "styles.csv"


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str
    negative_prompt: str


def load_styles(home: Path) -> list[Style]:
    """The styles in `<home>/styles.csv`; none when the file is absent."""
    path = home / STYLES_FILE
    if not path.is_file():
        return []
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            rows = list(csv.DictReader(file))
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise BadInput(f"styles file {str(path)!r} cannot be read ({error})") from error
    return [Style(row.get("name") or "", row.get("prompt") or "", row.get("negative_prompt") or "")
            for row in rows if row.get("name")]


def _merge(style_text: str, text: str) -> str:
    if "{prompt}" in style_text:
        return style_text.replace("{prompt}", text)
    return ", ".join(part for part in (text, style_text) if part)


def apply_styles(prompt: str, negative: str, names: list[str], styles: list[Style]) -> tuple[str, str]:
    """The prompt and negative prompt with each named style applied in order."""
    by_name = {style.name: style for style in styles}
    for name in names:
        if name not in by_name:
            allowed = ", ".join(by_name) or "none (no styles.csv in the sfumato home)"
            raise BadInput(f"styles: unknown style {name!r}; allowed: {allowed}")
        style = by_name[name]
        prompt, negative = _merge(style.prompt, prompt), _merge(style.negative_prompt, negative)
    return prompt, negative
