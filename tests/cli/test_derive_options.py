"""``derive`` and ``report`` take the derivation options from one definition."""

from __future__ import annotations

import dataclasses
import inspect

from crsscore.cli import _derive_options as O
from crsscore.cli import _register


def _options(command: object) -> dict[str, object]:
    sig = inspect.signature(command)  # type: ignore[arg-type]
    names = {f.name for f in dataclasses.fields(O.DeriveOptions)}
    return {n: (p.annotation, p.default) for n, p in sig.parameters.items() if n in names}


def test_both_commands_take_every_option_with_one_type_and_default() -> None:
    _register()
    from crsscore.cli.derive_cmds import derive
    from crsscore.cli.report_cmd import report

    defaults = O.DeriveOptions()
    want = {f.name: (O.OPTION_TYPES[f.name], getattr(defaults, f.name))
            for f in dataclasses.fields(O.DeriveOptions)}
    assert _options(derive) == want
    assert _options(report) == want
    assert "opts" not in inspect.signature(derive).parameters


def test_the_options_arrive_as_one_dataclass() -> None:
    seen: list[O.DeriveOptions] = []

    @O.derive_options
    def command(data: str, opts: O.DeriveOptions = O.DeriveOptions(), extra: int = 0) -> None:
        seen.append(opts)

    command(data="x", landmark="day3", seed=4, imputations=2, extra=1)
    assert seen == [O.DeriveOptions(landmark="day3", seed=4, imputations=2)]
