"""`sfumato serve`: run the web studio, the native API and the A1111 API in one process (uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from sfumato.errors import BadInput
from sfumato.settings import Settings


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (A1111's is 7860).")] = 7860,
    token: Annotated[str | None, typer.Option(
        help="API token clients must send (Authorization: Bearer TOKEN). Default: $SFUMATO_API_TOKEN.",
        show_default=False)] = None,
    max_side: Annotated[int, typer.Option(help="Largest width or height a request may ask for.")] = 2048,
    max_steps: Annotated[int, typer.Option(help="Most sampling steps a request may ask for.")] = 150,
    max_batch_size: Annotated[int, typer.Option(help="Most pictures per batch a request may ask for.")] = 8,
) -> None:
    """Serve the web studio and the APIs (native /api, A1111 /sdapi/v1) with one job queue."""
    # Imported here so `sfumato --help` does not pay for uvicorn and FastAPI.
    import uvicorn

    from sfumato.server import Limits, create_app

    token = token or os.environ.get("SFUMATO_API_TOKEN") or None
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        raise BadInput(
            f"--host {host}: listening beyond this machine needs an API token",
            hint="add --token SOME-LONG-SECRET (or set SFUMATO_API_TOKEN), or keep --host 127.0.0.1",
        )
    settings = ctx.obj.settings if ctx.obj is not None else Settings()
    limits = Limits(max_side=max_side, max_steps=max_steps, max_batch_size=max_batch_size)
    app = create_app(settings, token=token, limits=limits)
    typer.echo(f"sfumato studio on http://{'[' + host + ']' if ':' in host else host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning")
