"""Caption templates for textual inversion, as A1111 uses them: each line names the token as `[name]` and the
picture's own caption as `[filewords]`; one line is drawn at random per picture per step. torch-free.

`--template` takes a built-in name below or a text file of lines (A1111's textual_inversion_templates/*.txt work).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from sfumato.errors import BadInput

TEMPLATES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    # A thing or a person: the token is a noun.
    "subject": ("a photo of a [name]", "a close-up photo of a [name]", "a good photo of the [name]",
                "a cropped photo of a [name]", "a bright photo of the [name]", "a picture of a [name]"),
    "subject_filewords": ("a photo of a [name], [filewords]", "a close-up photo of a [name], [filewords]",
                          "a good photo of the [name], [filewords]", "a picture of a [name], [filewords]"),
    # A look: the token is a style.
    "style": ("a painting in the style of [name]", "a picture in the style of [name]", "art by [name]",
              "an illustration in the style of [name]", "a rendering in the style of [name]"),
    "style_filewords": ("[filewords], in the style of [name]", "a painting of [filewords], in the style of [name]",
                        "[filewords], art by [name]", "a picture of [filewords], in the style of [name]"),
    # The dataset's own captions, the token put in front (kohya-style captions that do not name it).
    "filewords": ("[name], [filewords]",),
})
DEFAULT_TEMPLATE: Final = "subject_filewords"


def template_lines(template: str) -> tuple[str, ...]:
    """A built-in template's lines, or a file's non-empty lines."""
    if template in TEMPLATES:
        return TEMPLATES[template]
    path = Path(template)
    if not path.is_file():
        raise BadInput(f"--template: {template!r} is neither a built-in template ({', '.join(TEMPLATES)}) nor a file")
    lines = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not lines:
        raise BadInput(f"--template: {str(path)!r} has no lines")
    return lines


def fill(line: str, *, token: str, filewords: str) -> str:
    """A template line with the token and the caption in; an empty caption leaves no stray comma."""
    text = line.replace("[name]", token).replace("[filewords]", filewords)
    text = re.sub(r"\s*,(\s*,)+", ",", text)  # "a, , b" -> "a, b"
    return re.sub(r"\s+", " ", text).strip(" ,")
