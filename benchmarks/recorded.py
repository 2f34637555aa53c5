"""A benchmark's result: printed for the person running it, and appended as one JSON line to a results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def report(result: dict[str, Any], out: Path | None) -> None:
    print(json.dumps(result, indent=1))
    if out is not None:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
