"""`sfumato models list|scan|show|convert`: what the library finds, its hashes and families."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sfumato.cli.context import CliContext, out_console
from sfumato.cli.progress import byte_progress
from sfumato.errors import BadInput
from sfumato.models.library import ModelEntry, ModelKind

models_app = typer.Typer(help="Find, identify, hash and convert models.", no_args_is_help=True)


def entry_dict(entry: ModelEntry) -> dict[str, Any]:
    return {
        "name": entry.name, "kind": entry.kind.value, "path": str(entry.path) if entry.path else None,
        "family": entry.family.value if entry.family else None, "evidence": entry.evidence, "size": entry.size,
        "sha256": entry.hashes.sha256 if entry.hashes else None,
        "short_hash": entry.hashes.autov2 if entry.hashes else None,
        "is_inpainting": entry.is_inpainting, "prediction_type": entry.prediction_type, "error": entry.error,
    }


def _table(entries: list[ModelEntry]) -> Table:
    table = Table("name", "kind", "family", "size", "hash", "note")
    for entry in entries:
        table.add_row(
            entry.name, entry.kind.value, entry.family.value if entry.family else "-",
            f"{entry.size / 2**20:.1f} MiB" if entry.size else "-",
            entry.hashes.autov2 if entry.hashes else "-", entry.error or entry.evidence,
        )
    return table


@models_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List checkpoints, LoRAs and embeddings (hashes shown where already computed)."""
    library = ctx.obj.studio.library
    entries = [entry for kind in ModelKind for entry in library.scan(kind)]
    console = out_console()
    if as_json:
        console.print_json(json.dumps([entry_dict(e) for e in entries]))
    else:
        console.print(_table(entries))


@models_app.command("scan")
def scan_command(ctx: typer.Context) -> None:
    """Identify and hash every model file (hashes are cached by path, size and mtime)."""
    library = ctx.obj.studio.library
    entries: list[ModelEntry] = []
    for kind in ModelKind:
        with byte_progress(f"hashing {kind.value}s") as on_bytes:
            entries.extend(library.scan(kind, with_hashes=True, on_progress=on_bytes))
    out_console().print(_table(entries))


@models_app.command("show")
def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name, file name, title or short hash.")],
    kind: Annotated[ModelKind, typer.Option(help="What kind of model.")] = ModelKind.CHECKPOINT,
) -> None:
    """Everything the library knows about one model (hashes computed if needed)."""
    context: CliContext = ctx.obj
    with byte_progress("hashing") as on_bytes:
        entry = context.studio.library.find(name, kind, with_hashes=True, on_progress=on_bytes)
    out_console().print_json(json.dumps(entry_dict(entry)))


@models_app.command("convert")
def convert_command(
    file: Annotated[Path, typer.Argument(help="A .ckpt/.pt/.pth/.bin checkpoint to convert.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the .safetensors.")] = None,
) -> None:
    """Convert a pickle checkpoint to safetensors with torch.load(weights_only=True): never a full unpickle."""
    from sfumato.models.convert import convert_to_safetensors

    written = convert_to_safetensors(file, output)
    out_console().print(str(written))


def _lora_weight(value: str) -> tuple[str, float]:
    name, _, weight = value.rpartition(":") if ":" in value else (value, "", "1")
    try:
        return name, float(weight)
    except ValueError:
        raise BadInput(f"--lora: must be NAME or NAME:WEIGHT such as ink:0.8, got {value!r}") from None


@models_app.command("fuse")
def fuse_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model to fuse into (name, file name or short hash).")],
    lora: Annotated[list[str], typer.Option("--lora", help="A LoRA and its weight, NAME:0.8; repeat for several.")],
    name: Annotated[str, typer.Option("--name", help="Name of the new model in the library.")],
) -> None:
    """Fuse LoRAs into a model for good, as a new model in the library (prints its path)."""
    from sfumato.engine.fuse import fuse_loras  # torch loads here, only for this command

    context: CliContext = ctx.obj
    loras = [_lora_weight(value) for value in lora]
    out_console().print(str(fuse_loras(context.studio.library, model, loras, name=name)))
