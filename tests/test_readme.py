"""README promises: the two commands, and tables that match the code they describe."""

from __future__ import annotations

from pathlib import Path

from crsscore.data.schema import ANALYTES
from crsscore.units import ANALYTE_UNITS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_states_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README


def test_every_analyte_and_unit_is_documented() -> None:
    for code, analyte in ANALYTES.items():
        row = next(line for line in README.splitlines() if line.startswith(f"| `{code}` |"))
        assert analyte.unit in row and (analyte.loinc or "-") in row
    for code, units in ANALYTE_UNITS.items():
        row = next(line for line in README.splitlines()
                   if line.startswith("| `") and f"`{code}`" in line.split("|")[1]
                   and "(x" in line)
        for unit, conv in units.items():
            assert f"{unit} (x{conv.scale:.6g}" in row, (code, unit)
