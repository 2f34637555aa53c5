"""`sfumato library search|reindex|show`: the picture library and its SQLite index."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Optional

import typer
from rich.table import Table

from sfumato.catalog import SearchFilters
from sfumato.cli.context import CliContext, out_console

library_app = typer.Typer(help="Search and maintain the picture library.", no_args_is_help=True)


@library_app.command("search")
def search_command(
    ctx: typer.Context,
    text: Annotated[Optional[str], typer.Argument(help="Words to find in prompts, e.g. 'otter watercolor'.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only pictures made with this model.")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="Only pictures made with this sampler.")] = None,
    collection: Annotated[Optional[str], typer.Option(help="Only this collection (and its sub-collections).")] = None,
    since: Annotated[Optional[datetime], typer.Option(help="Made at or after this date/time.")] = None,
    until: Annotated[Optional[datetime], typer.Option(help="Made before this date/time.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many results.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Full-text search over prompts, with filters."""
    context: CliContext = ctx.obj
    filters = SearchFilters(model=model, sampler=sampler, collection=collection, since=since, until=until)
    records = context.studio.catalog.search(text, filters, limit=limit)
    console = out_console()
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    table = Table("id", "collection", "created", "model", "seed", "prompt", "path")
    root = context.studio.catalog.root
    for record in records:
        table.add_row(record.id[:8], record.collection, str(record.created_at)[:19], record.model, str(record.seed),
                      record.prompt[:60], str(record.absolute_path(root)))
    console.print(table)


@library_app.command("reindex")
def reindex_command(ctx: typer.Context) -> None:
    """Rebuild the index from the picture files alone (the files are the truth)."""
    context: CliContext = ctx.obj
    report = context.studio.catalog.reindex()
    out_console().print(str(report))


@library_app.command("show")
def show_command(
    ctx: typer.Context,
    picture_id: Annotated[str, typer.Argument(help="Picture id (from `library search`).")],
) -> None:
    """Print one picture's record and recipe as JSON."""
    context: CliContext = ctx.obj
    record = context.studio.catalog.get(picture_id)
    out_console().print_json(json.dumps(record.model_dump(mode="json")))
