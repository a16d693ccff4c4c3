"""``crsscore monitor serve | import | token``: the ward monitor (issue 17).

The commands register on the ``monitor`` sub-app of :mod:`crsscore.cli.dynamic_cmds` (which
also has ``monitor replay``); where that module is absent they make the sub-app themselves.
The database is ``--db`` (an SQLAlchemy URL), else ``$CRSSCORE_MONITOR_DB``, else the SQLite
file ``crsscore-monitor.db`` in the current folder; the schema is created or upgraded by the
package's Alembic migrations on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from crsscore.cli._common import app, console, err_console, friendly_errors
from crsscore.errors import CrsscoreError

try:
    from crsscore.cli.dynamic_cmds import monitor_app
except ImportError:  # the dynamic model's commands are not there: make the sub-app here
    monitor_app = typer.Typer(name="monitor", help="The ward monitor.", no_args_is_help=True,
                              add_completion=False, pretty_exceptions_enable=False)
    app.add_typer(monitor_app, name="monitor")

token_app = typer.Typer(name="token", help="API tokens of the ward monitor (stored hashed).",
                        no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False)
monitor_app.add_typer(token_app, name="token")

DEFAULT_DB_FILE = "crsscore-monitor.db"
#: ``monitor serve --workers``: two processes grade and score two requests at once (the
#: write is short and checked against a snapshot, see :mod:`crsscore.monitor.ingest`)
DEFAULT_WORKERS = 2

Db = Annotated[str | None, typer.Option(
    "--db", help="Database URL (sqlite:///FILE or postgresql+psycopg://USER@HOST/DB); default "
                 "$CRSSCORE_MONITOR_DB or sqlite:///crsscore-monitor.db.")]
CardOpt = Annotated[Path | None, typer.Option(
    "--card", help="Dynamic score card JSON (crsscore derive-dynamic); without it: grades "
                   "and grade alerts only.")]
Threshold = Annotated[float | None, typer.Option(
    "--threshold", min=0.0, max=1.0,
    help="Ward alert threshold for every horizon (default: the card's, else 0.2).")]


def db_url(db: str | None) -> str:
    url = db or os.environ.get("CRSSCORE_MONITOR_DB") or f"sqlite:///{DEFAULT_DB_FILE}"
    if "://" not in url:
        raise CrsscoreError(f"--db must be a database URL such as sqlite:///monitor.db; "
                            f"got {url!r}")
    return url


def _shown(url: str) -> str:
    """The URL without a password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url
    return url


def open_database(db: str | None) -> Any:
    from sqlalchemy.exc import OperationalError

    from crsscore.monitor.db import Database

    url = db_url(db)
    try:
        return Database(url)
    except OperationalError as exc:
        raise CrsscoreError(f"cannot open the database {_shown(url)}: "
                            f"{type(exc.orig).__name__}") from None


def load_risk(card: Path | None, threshold: float | None) -> Any:
    if card is None:
        return None
    from crsscore.monitor.risk import DynamicCardRisk

    if not card.exists():
        raise CrsscoreError(f"dynamic card not found: {card}")
    try:
        return DynamicCardRisk.from_file(card, threshold)
    except RuntimeError as exc:
        raise CrsscoreError(str(exc)) from None


@monitor_app.command("serve")
@friendly_errors
def monitor_serve(
    db: Db = None,
    card: CardOpt = None,
    threshold: Threshold = None,
    host: Annotated[str, typer.Option(help="Address to bind; the default is this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8001,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes (default 2). Each grades and scores a request on its own core from a read snapshot of the patient's stored rows, outside the write transaction; only the short write (checked against the patient's version, redone on a conflict) is one at a time on SQLite. Use 1 on a one-core machine.")] = DEFAULT_WORKERS,
) -> None:
    """Serve the ward monitor: API (/api/v1, /fhir) and pages (/ward).

    Two worker processes by default: two updates are graded and scored at once."""
    import uvicorn

    from crsscore.monitor.app import create_monitor_app
    from crsscore.monitor.logconfig import monitor_uvicorn_config

    database = open_database(db)
    risk = load_risk(card, threshold)
    if risk is None:
        err_console.print("[yellow]No dynamic card (--card): grades and grade alerts only.[/]")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]Listening on {host}: reachable from other machines. Put it "
                          "behind TLS.[/]")
    console.print(f"Ward monitor: http://{host}:{port}/ward   database: "
                  f"{_shown(database.url)}")
    if workers > 1:
        from crsscore.monitor.logconfig import monitor_log_config

        os.environ["CRSSCORE_MONITOR_DB"] = database.url
        if card is not None:
            os.environ["CRSSCORE_MONITOR_CARD"] = str(card.resolve())
        if threshold is not None:
            os.environ["CRSSCORE_MONITOR_THRESHOLD"] = str(threshold)
        database.dispose()
        from crsscore.monitor.serving import HTTP_PROTOCOL

        uvicorn.run("crsscore.monitor.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, http=HTTP_PROTOCOL,
                    log_config=monitor_log_config("INFO"), access_log=True,
                    server_header=False, proxy_headers=False, timeout_graceful_shutdown=5)
        return
    from crsscore.monitor.serving import prepare_process

    fastapi_app = create_monitor_app(database, risk)
    prepare_process()
    uvicorn.Server(monitor_uvicorn_config(fastapi_app, host=host, port=port)).run()


@monitor_app.command("import")
@friendly_errors
def monitor_import(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file (a daily export).")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file for a centre's own export.")] = None,
    db: Db = None,
    card: CardOpt = None,
    threshold: Threshold = None,
) -> None:
    """Load a cohort or a daily export into the monitor (the same ingestion path as the API)."""
    import time

    from crsscore.data.check import validate_tables
    from crsscore.data.tables import read_cohort_tables
    from crsscore.monitor.ingest import Monitor

    database = open_database(db)
    risk = load_risk(card, threshold)
    t0 = time.perf_counter()
    loaded = read_cohort_tables(data, mapping)
    validate_tables(loaded)
    res = Monitor(database, risk).ingest_loaded(loaded, actor="cli-import",
                                                action="import")
    dt = time.perf_counter() - t0
    console.print(f"Imported {res.rows} rows: {res.inserted} new, {res.updated} updated, "
                  f"{res.unchanged} unchanged; {res.patients_created} patient(s) created, "
                  f"{res.patients_regraded} re-graded ({res.patient_days} patient-days), "
                  f"{len(res.alerts)} alert(s) raised, in {dt:.2f} s")
    if risk is None:
        console.print("[dim]No dynamic card (--card): risks were not computed.[/]")


@token_app.command("create")
@friendly_errors
def token_create(
    name: Annotated[str, typer.Argument(help="A name for the token (who or what uses it).")],
    db: Db = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from crsscore.monitor.auth import create_token

    try:
        secret = create_token(open_database(db), name)
    except ValueError as exc:
        raise CrsscoreError(str(exc)) from None
    err_console.print(f"Token '{name}' created. Keep it secret; it is not shown again:")
    typer.echo(secret)


@token_app.command("revoke")
@friendly_errors
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    db: Db = None,
) -> None:
    """Revoke a token (and end its page sessions)."""
    from crsscore.monitor.auth import revoke_token

    if not revoke_token(open_database(db), name):
        raise CrsscoreError(f"no active token named {name!r}")
    console.print(f"Token '{name}' revoked.")


@token_app.command("list")
@friendly_errors
def token_list(db: Db = None) -> None:
    """List tokens (names and dates; never the tokens)."""
    from crsscore.monitor.auth import list_tokens

    for t in list_tokens(open_database(db)):
        state = f"revoked {t['revoked']}" if t["revoked"] else "active"
        console.print(f"{t['name']}: created {t['created']}, {state}")


__all__ = ["db_url", "monitor_app", "token_app"]
