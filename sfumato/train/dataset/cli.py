"""`sfumato data check` and `sfumato data import-captions`: dataset tools that need no model (torch-free).

`sfumato/cli` mounts these on the `data` group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sfumato.errors import BadInput
from sfumato.train.dataset.check import DEFAULT_MIN_SIZE, CheckReport, check_dataset
from sfumato.train.dataset.import_captions import import_captions, report_json


def _table(report: CheckReport) -> Table:
    table = Table("file", "severity", "problem", "detail",
                  title=f"{report.dataset}: {report.images} images, {len(report.errors)} errors, "
                        f"{len(report.warnings)} warnings")
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        table.add_row(problem.file, f"[{colour}]{problem.severity}[/]", problem.code, problem.message)
    return table


def check_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (images + .txt captions, or kohya N_class folders).")],
    min_size: Annotated[int, typer.Option(min=1, help="Smallest allowed short side, in pixels.")] = DEFAULT_MIN_SIZE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a training dataset without changing it; exit 2 when it has errors that training would refuse."""
    report = check_dataset(dataset, min_size=min_size)
    console = Console(highlight=False, soft_wrap=True)
    if as_json:
        console.print_json(json.dumps(report.to_json()))
    else:
        console.print(_table(report) if report.problems else f"{dataset}: {report.images} images, no problems")
    if report.errors:
        raise typer.Exit(BadInput.exit_code)


def import_captions_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder whose images get .txt captions.")],
    source: Annotated[Path, typer.Argument(metavar="FROM", help="A .csv, .json or .sqlite export: file -> caption.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write captions from a CSV/JSON/SQLite export as .txt files beside the images (images are never touched)."""
    report = import_captions(dataset, source)
    console = Console(highlight=False, soft_wrap=True)
    if as_json:
        console.print_json(json.dumps(report_json(report)))
        return
    console.print(f"{len(report.written)} captions written, {len(report.unchanged)} unchanged")
    for label, names in (("rows naming no image", report.unmatched), ("rows naming several images", report.ambiguous),
                         ("images without a caption row", report.without_caption)):
        if names:
            console.print(f"{len(names)} {label}: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
