"""The `sfumato` command line (typer). Each command builds a Recipe or asks the Studio; errors map to exit codes.

Exit codes: 0 ok, 1 other error, 2 bad input (usage, recipe field, unreadable file), 3 model not found or
refused, 4 out of memory, 5 cancelled, 6 picture not reproduced, 7 catalog error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sfumato.cli.context import CliContext, err_console
from sfumato.cli.explore import grid_command, vary_command, walk_command
from sfumato.cli.generate import again_command, generate_command, info_command
from sfumato.cli.library import library_app
from sfumato.cli.models import models_app
from sfumato.cli.prompt import prompt_app
from sfumato.cli.serve import serve_command
from sfumato.cli.styles import styles_app
from sfumato.cli.train_dreambooth import dreambooth_command
from sfumato.cli.train_embedding import embedding_command
from sfumato.cli.train_lora import lora_command, status_command
from sfumato.errors import SfumatoError
from sfumato.train.cli import train_app
from sfumato.train.dataset.cli import check_command, import_captions_command
from sfumato.train.emoji.cli import data_app
from sfumato.settings import Settings

app = typer.Typer(
    name="sfumato",
    help="sfumato: a local, private text-to-image studio. Every picture carries the recipe that makes it again.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("generate", no_args_is_help=True)(generate_command)
app.command("info", no_args_is_help=True)(info_command)
app.command("again", no_args_is_help=True)(again_command)
app.command("vary", no_args_is_help=True)(vary_command)
app.command("walk")(walk_command)
app.command("grid", no_args_is_help=True)(grid_command)
app.add_typer(models_app, name="models")
app.add_typer(library_app, name="library")
app.add_typer(prompt_app, name="prompt")
app.command("serve")(serve_command)
app.add_typer(styles_app, name="styles")  # issue #5: styles.csv presets


app.add_typer(data_app, name="data", help="Build datasets (the embedded model's emoji data).")
app.add_typer(train_app, name="train", help="Train models: the embedded base model, its evaluation.")
# LoRA training and dataset tools (issue #8): mounted on the train and data groups.
train_app.command("lora", no_args_is_help=True)(lora_command)
train_app.command("status")(status_command)
train_app.command("dreambooth", no_args_is_help=True)(dreambooth_command)
train_app.command("embedding", no_args_is_help=True)(embedding_command)  # textual inversion (issue #8, item 4)
data_app.command("check", no_args_is_help=True)(check_command)
data_app.command("import-captions", no_args_is_help=True)(import_captions_command)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Optional[Path],
        typer.Option("--home", help="Folder holding all sfumato state (default: $SFUMATO_HOME or the user data dir)."),
    ] = None,
) -> None:
    """sfumato: a local, private text-to-image studio."""
    settings = Settings(home=home) if home is not None else Settings()
    context = CliContext(settings)
    ctx.obj = context
    ctx.call_on_close(context.close)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map SfumatoError (and click's usage errors) to their exit codes."""
    console_err = err_console()
    try:
        # With standalone_mode off, click returns a command's typer.Exit code instead of raising it.
        result = app(args=argv, prog_name="sfumato", standalone_mode=False)
    except SfumatoError as error:
        console_err.print(f"[bold red]error:[/] {error.message}", highlight=False)
        if error.hint:
            console_err.print(f"[yellow]hint:[/] {error.hint}", highlight=False)
        return error.exit_code
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        console_err.print("aborted")
        return 130
    except typer.TyperException as error:  # usage errors: unknown option, missing argument, bad value
        error.show()  # type: ignore[attr-defined]
        return int(getattr(error, "exit_code", 2))
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
