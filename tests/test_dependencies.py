"""The dependencies in pyproject.toml are the ones the code imports, each where it is declared.

* an import in ``src/`` is a core dependency, or belongs to a runtime extra (``dask``,
  ``postgres``) and stands inside a function (an optional path, with its own message when
  the extra is missing);
* an import in ``tests/`` is core or in the ``test`` extra; in ``benchmarks/`` core or ``dev``;
* every core dependency is imported by ``src/``, every ``test`` one by ``tests/``, every
  runtime extra by ``src/``, except the few listed in :data:`NOT_IMPORTED` with the reason.

Import names are matched to distributions through the installed metadata
(``importlib.metadata.packages_distributions``), so the test runs in any venv that has the
test extra installed (``.venv`` or ``.venv-min``).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_EXTRAS = ("dask", "postgres")

#: Declared and never imported, on purpose.
NOT_IMPORTED: dict[str, str] = {
    "python-multipart": "FastAPI parses the monitor's HTML forms (Form fields) with it",
    "psycopg": "the monitor's PostgreSQL driver, loaded by SQLAlchemy from a "
               "postgresql+psycopg:// URL (the tests import it themselves)",
    "pytest-xdist": "a pytest plugin (-n)",
    "ruff": "a tool of make test",
    "mypy": "a tool of make test",
    "pandas-stubs": "type stubs for mypy",
    "scipy-stubs": "type stubs for mypy",
}

#: Imported and not declared, on purpose.
NOT_DECLARED: dict[str, str] = {
    "fasterrisk": "benchmarks/fasterrisk_runner.py runs in its own venv "
                  "(benchmarks/fasterrisk_env.sh), never in crsscore's",
}


def _pins() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crsscore_ci_pins", ROOT / ".ci" / "pins.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PINS = _pins()


def declared(*extras: str) -> set[str]:
    """Normalised distribution names of the core (no extras) or of the named extras only."""
    core = {PINS.normalise(PINS._REQUIREMENT.match(r)["name"]) for r in PINS.declared([])}
    if not extras:
        return core
    with_extras = {PINS.normalise(PINS._REQUIREMENT.match(r)["name"])
                   for r in PINS.declared(list(extras))}
    return with_extras - core


@dataclass(frozen=True)
class Import:
    """A top-level import name used in a file, and whether it stands inside a function."""

    name: str
    path: Path
    line: int
    in_function: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


class _Imports(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.depth = 0
        self.found: list[Import] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _add(self, name: str, node: ast.stmt) -> None:
        self.found.append(Import(name.split(".")[0], self.path, node.lineno, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node)


def third_party_imports(tree: str) -> list[Import]:
    base = ROOT / tree
    # tests and benchmarks import their helper modules by bare name (pytest puts each test
    # folder on sys.path; benchmarks put tests/ there); src imports only through crsscore
    local = set() if tree == "src" else {
        p.stem for helpers in ("tests", "benchmarks") for p in (ROOT / helpers).rglob("*.py")}
    out: list[Import] = []
    for path in sorted(base.rglob("*.py")):
        visitor = _Imports(path)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        out.extend(i for i in visitor.found
                   if i.name not in sys.stdlib_module_names and i.name != "crsscore"
                   and i.name not in local)
    return out


@functools.cache
def _import_names() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()  # scans every installed distribution: once


@functools.cache
def _metapackages() -> Mapping[str, set[str]]:
    """Distribution -> the metapackages that ship it under another name at the same version.

    typer 0.12, for one, is an empty package that requires ``typer-slim==0.12.0``, which
    holds the ``typer`` module.
    """
    out: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        for req in dist.requires or []:
            m = PINS._REQUIREMENT.match(req)
            if m and not m["marker"] and m["spec"].replace(" ", "") == f"=={dist.version}":
                out.setdefault(PINS.normalise(m["name"]), set()).add(
                    PINS.normalise(dist.metadata["Name"]))
    return out


def distributions_of(name: str) -> set[str]:
    dists = {PINS.normalise(d) for d in _import_names().get(name, [])}
    return dists.union(*(_metapackages().get(d, set()) for d in dists))


def _undeclared(tree: str, allowed: set[str]) -> list[str]:
    bad = []
    for imp in third_party_imports(tree):
        if imp.name in NOT_DECLARED:
            continue
        dists = distributions_of(imp.name)
        if not dists & allowed:
            bad.append(f"{imp.where}: imports {imp.name} (distribution "
                       f"{', '.join(sorted(dists)) or 'not installed'}), which is not declared "
                       f"for {tree}/")
    return bad


def _unused(dists: set[str], imported_by: set[str], what: str) -> list[str]:
    return [f"{d} is declared ({what}) but never imported" for d in sorted(dists)
            if d not in imported_by and d not in NOT_IMPORTED]


def _imported_distributions(imports: list[Import]) -> set[str]:
    return set().union(*(distributions_of(i.name) for i in imports))


def test_src_imports_are_core_or_optional_extras() -> None:
    core, extras = declared(), declared(*RUNTIME_EXTRAS)
    bad = _undeclared("src", core | extras)
    for imp in third_party_imports("src"):
        dists = distributions_of(imp.name)
        if dists & extras and not dists & core and not imp.in_function:
            bad.append(f"{imp.where}: imports {imp.name} of an optional extra at module "
                       "level; import it inside the function that needs it")
    assert not bad, "\n".join(bad)


def test_tests_and_benchmarks_import_only_what_is_declared() -> None:
    bad = _undeclared("tests", declared() | declared("test"))
    bad += _undeclared("benchmarks", declared() | declared("dev"))
    assert not bad, "\n".join(bad)


def test_every_declared_dependency_is_imported_where_declared() -> None:
    src = _imported_distributions(third_party_imports("src"))
    tests = _imported_distributions(third_party_imports("tests"))
    benchmarks = _imported_distributions(third_party_imports("benchmarks"))
    unused = _unused(declared(), src, "core, for src/")
    unused += _unused(declared(*RUNTIME_EXTRAS), src, "a runtime extra, for src/")
    unused += _unused(declared("test"), tests, "extra test, for tests/")
    unused += _unused(declared("dev") - declared("test"), benchmarks, "extra dev")
    assert not unused, "\n".join(unused)


@pytest.mark.parametrize(("extra", "expected"), [
    ("dask", {"distributed"}), ("postgres", {"psycopg"})])
def test_runtime_extras_hold_what_their_comment_says(extra: str, expected: set[str]) -> None:
    assert declared(extra) == expected
