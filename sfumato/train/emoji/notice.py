"""The NOTICE file every emoji dataset carries: each source, its license, and the changes made."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Final

from sfumato.train.emoji.sources import LABEL_SOURCES, ImageSource

# MIT asks that "the above copyright notice and this permission notice" travel with copies.
MIT_PERMISSION: Final = """\
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def notice_text(sources: Iterable[ImageSource], *, size: int, title: str) -> str:
    """NOTICE for a dataset built from `sources` (in the given order) plus the label sources."""
    lines = [
        f"{title}",
        "",
        "This dataset was built by sfumato from the npm packages below. Each picture keeps the license",
        "of the artwork it came from (recorded per picture in metadata.jsonl).",
        "Changes made: SVGs were rasterised; every picture was composited on a white background and",
        f"resized to {size}x{size} pixels (Lanczos). Captions and file names were derived from the labels.",
        "",
        "Pictures",
        "--------",
    ]
    for source in sources:
        heading = f"* {source.style_words} ({source.package.spec}, {source.package.license}):"
        lines += [heading, _wrap(source.credit, first="  "), ""]
    lines += ["Labels, tags and keywords", "-------------------------"]
    lines += [_wrap(f"* {label.credit}", first="") for label in LABEL_SOURCES.values()]
    lines += ["", "MIT License text (applies to the sources above marked MIT)", "-" * 58, MIT_PERMISSION]
    return "\n".join(lines)


def _wrap(text: str, *, first: str) -> str:
    # URLs and package names must stay whole so they can be copied; wrap on spaces only.
    return textwrap.fill(
        text, width=100, initial_indent=first, subsequent_indent="  ",
        break_long_words=False, break_on_hyphens=False,
    )
