"""`sfumato styles list|show|save|delete`: the prompt styles in `<home>/styles.csv` (A1111's file and format)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sfumato.cli.context import CliContext, out_console
from sfumato.prompt.styles import Style, delete_style, find_style, load_styles, save_style, styles_path

styles_app = typer.Typer(help="Prompt styles: named prompt / negative prompt presets in styles.csv (A1111's).",
                         no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The style's name.")]


@styles_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {name, prompt, negative_prompt}.")]
    = False,
) -> None:
    """Every style, in file order."""
    context: CliContext = ctx.obj
    styles = load_styles(context.settings.home)
    console = out_console()
    if as_json:
        console.print_json(json.dumps([style.model_dump() for style in styles]))
        return
    for style in styles:
        console.print(style.name, markup=False)
    if not styles:
        console.print(f"no styles (none in {styles_path(context.settings.home)})", markup=False)


@styles_app.command("show")
def show_command(ctx: typer.Context, name: NameArgument) -> None:
    """One style's prompt and negative prompt."""
    context: CliContext = ctx.obj
    style = find_style(name, load_styles(context.settings.home))
    console = out_console()
    console.print(f"name: {style.name}\nprompt: {style.prompt}\nnegative_prompt: {style.negative_prompt}",
                  markup=False)


@styles_app.command("save")
def save_command(
    ctx: typer.Context,
    name: NameArgument,
    prompt: Annotated[str, typer.Option(help="Style text; {prompt} marks where the prompt goes, else it is "
                                             "appended after ', '.")] = "",
    negative: Annotated[str, typer.Option("--negative", "-n", help="Negative prompt text (same {prompt} rule).")]
    = "",
) -> None:
    """Add a style, or replace the one of that name in place; other rows and columns stay as they are."""
    context: CliContext = ctx.obj
    replaced = save_style(context.settings.home, Style(name=name, prompt=prompt, negative_prompt=negative))
    out_console().print(f"{'replaced' if replaced else 'added'} style {name!r} in "
                        f"{styles_path(context.settings.home)}", markup=False)


@styles_app.command("delete")
def delete_command(ctx: typer.Context, name: NameArgument) -> None:
    """Remove a style; other rows stay as they are."""
    context: CliContext = ctx.obj
    delete_style(context.settings.home, name)
    out_console().print(f"deleted style {name!r} from {styles_path(context.settings.home)}", markup=False)
