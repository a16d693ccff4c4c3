"""The ``crsscore`` command line: a thin shell over the core (typer + rich).

Each command lives in its own module and registers itself on :data:`app` when imported.
"""

from __future__ import annotations

import importlib

from crsscore.cli._common import app

# One module per command (or group of commands); order sets the order in --help.
_COMMAND_MODULES: list[str] = [
    "crsscore.cli.data_cmds",
    "crsscore.cli.sim_cmds",
    "crsscore.cli.demo_cmd",
    "crsscore.cli.derive_cmds",
    "crsscore.cli.compare_cmd",
    "crsscore.cli.external_cmd",
    "crsscore.cli.serve_cmd",
    "crsscore.cli.grade_cmd",
    "crsscore.cli.validate_cmds",
    "crsscore.cli.report_cmd",
    "crsscore.cli.dynamic_cmds",
    "crsscore.cli.monitor_cmds",
]


def _register() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name)


def main() -> None:
    _register()
    app()


__all__ = ["app", "main"]
