"""``crsscore serve``: the browser calculator and REST API (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crsscore.cli._common import app, console, err_console, friendly_errors


def uvicorn_config(fastapi_app: Any, *, host: str = "127.0.0.1", port: int = 8000,
                   log_level: str = "info") -> Any:
    """The uvicorn configuration used by ``crsscore serve`` (and by the tests).

    Access lines carry method, path without query string and status: never bodies or
    query strings, so patient values and identifiers stay out of the logs.
    """
    import uvicorn

    from crsscore.service.logconfig import log_config

    return uvicorn.Config(fastapi_app, host=host, port=port, log_config=log_config(log_level.upper()),
                          log_level=log_level, access_log=True, server_header=False,
                          proxy_headers=False, timeout_graceful_shutdown=5)


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; the default is this machine only."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    scorecards: Path | None = typer.Option(
        None, "--scorecards", file_okay=False, dir_okay=True,
        help="Folder of score card *.json files served beside the built-in cards."),
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", help="The centre's mapping file: the calculator presets the unit "
                          "pickers of published cards to the units it names.")] = None,
) -> None:
    """Serve the clinician calculator (http://HOST:PORT/) and the REST API (/api/v1)."""
    import uvicorn

    from crsscore.service.main import create_app
    from crsscore.service.routers.pages import centre_units

    fastapi_app = create_app(scorecards, centre_units=centre_units(mapping) if mapping else None)
    registry = fastapi_app.state.registry
    console.print(f"{len(registry.cards)} score card(s) loaded")
    for bad in registry.rejected:
        err_console.print(f"[yellow]score card not loaded:[/] {bad.source}: {bad.error}",
                          markup=True, highlight=False, soft_wrap=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]Listening on {host}: reachable from other machines. "
                          "Put it behind TLS and authentication.[/]")
    console.print(f"Calculator: http://{host}:{port}/   API: http://{host}:{port}/docs")
    uvicorn.Server(uvicorn_config(fastapi_app, host=host, port=port)).run()
