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


def _map_entries() -> dict[str, str]:
    """README's map of the code: each top-level entry (``errors.py``, ``data/``) and its text."""
    block = README.split("## Map of the code", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    key = None
    for line in block.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            key, _, text = line.strip().partition(" ")
            entries[key] = text
        elif key is not None:
            entries[key] += " " + line.strip()
    return entries


def test_map_of_the_code_matches_the_tree() -> None:
    import crsscore

    pkg = Path(crsscore.__file__).resolve().parent
    entries = _map_entries()
    missing = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        if path.name == "__init__.py" or "migrations" in rel.parts:
            continue
        if len(rel.parts) == 1:
            if rel.name not in entries:
                missing.append(str(rel))
            continue
        text = entries.get(f"{rel.parts[0]}/", "")
        words = text
        for sep in ",()/+":
            words = words.replace(sep, " ")
        if path.stem not in words.split():
            missing.append(str(rel))
    assert not missing, f"modules missing from README's map of the code: {missing}"
    for key in entries:
        if key.startswith(("tests/", "benchmarks/", "docs/")):
            continue
        assert (pkg / key.rstrip("/")).exists(), f"README's map names {key}, which is not in the tree"
