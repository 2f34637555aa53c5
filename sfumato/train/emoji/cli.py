"""`sfumato data build-emoji`: build the embedded model's emoji datasets and print what went in and what not.

The lead's `sfumato/cli` mounts `data_app` as `sfumato data`; it reads the settings from `ctx.obj.settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sfumato.settings import Settings
from sfumato.train.emoji.build import DatasetReport, build_emoji_dataset, build_holdout_datasets
from sfumato.train.emoji.sources import BASE_STYLES

data_app = typer.Typer(help="Build datasets (the embedded model's emoji data).", no_args_is_help=True)


@data_app.callback()
def data_group() -> None:
    """Build datasets (the embedded model's emoji data)."""


def _styles(values: list[str] | None) -> tuple[str, ...]:
    """'--styles noto,twemoji' and '--styles noto --styles twemoji' both work."""
    if not values:
        return BASE_STYLES
    return tuple(style.strip() for value in values for style in value.split(",") if style.strip())


def _cache(ctx: typer.Context, cache: Path | None) -> Path:
    if cache is not None:
        return cache
    settings = getattr(ctx.obj, "settings", None)
    return (settings if isinstance(settings, Settings) else Settings()).cache_dir / "npm"


def _summary(name: str, report: DatasetReport) -> Table:
    title = f"{name}: {report.out} ({report.seconds:.1f} s)"
    table = Table("style", "pictures", "skipped (why)", title=title)
    for style, written in report.written.items():
        reasons = ", ".join(f"{count} {reason}" for reason, count in report.skipped.get(style, {}).items())
        table.add_row(style, str(written), reasons or "-")
    table.add_row("total", str(report.total), "")
    return table


@data_app.command("build-emoji", no_args_is_help=True)
def build_emoji_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="Folder for the datasets: OUT/base (and OUT/openmoji-style, "
                                             "OUT/holdout-concepts with --holdouts).")],
    size: Annotated[int, typer.Option(help="Picture size in pixels (square).")] = 64,
    styles: Annotated[list[str] | None, typer.Option(
        help=f"Styles, comma-separated or repeated (default all: {','.join(BASE_STYLES)}).")] = None,
    limit: Annotated[int | None, typer.Option(help="At most N pictures per style (a quick sample).")] = None,
    holdouts: Annotated[bool, typer.Option(
        "--holdouts", help="Also build the hold-out sets: OpenMoji style and held-out concepts.")] = False,
    skin_tones: Annotated[bool, typer.Option("--skin-tones", help="Keep skin-tone variants.")] = False,
    cache: Annotated[Path | None, typer.Option(help="npm tarball cache (default <home>/cache/npm).")] = None,
) -> None:
    """Build the emoji training set from npm packages (Noto, Twemoji, Fluent 3D/colour/flat)."""
    console = Console(highlight=False, soft_wrap=True)
    npm_cache = _cache(ctx, cache)
    chosen = _styles(styles)
    base = build_emoji_dataset(
        out / "base", cache=npm_cache, size=size, styles=chosen, include_skin_tones=skin_tones, limit=limit,
    )
    console.print(_summary("base", base))
    if holdouts:
        held = build_holdout_datasets(out, cache=npm_cache, size=size, styles=chosen, limit=limit)
        console.print(_summary("openmoji-style", held.style))
        console.print(_summary("holdout-concepts", held.concepts))
