"""The package's import layering: no import circle and no arrow from a lower layer up.

Every module under ``src/crsscore`` is read with :mod:`ast` (nothing is imported), and each of
its imports of a ``crsscore`` module becomes an arrow, wherever it stands:

* module-level and function-level imports alike (a function-level import is still a
  dependency; it only runs later);
* imports under ``if TYPE_CHECKING:`` too, for both rules.  They do not run, but they are a
  dependency of the design all the same: a lower layer that names a higher layer's types
  knows about that layer, and a type-only back-reference is the usual way to hide a circle
  that a shared lower module should remove;
* ``from . import x`` and ``from .x import y`` resolved against the importing module, and
  ``from pkg import name`` read as the submodule ``pkg.name`` when that module exists;
* a module that calls ``importlib.import_module`` imports every ``crsscore`` module whose
  dotted name it spells as a string (``cli/__init__`` registers its commands that way).

The layering, lowest first (modules of one layer may import each other, as long as no circle
forms; a subpackage's modules sit in its layer):

    _types, errors -> units, atomicio, csvsafe -> data -> grading, scores -> modeling
    -> validation -> workflow -> report -> cli, service, monitor

``atomicio`` (atomic output files) and ``csvsafe`` (formula-safe CSV cells) sit with ``units``:
they import only ``errors``/each other and serve writers in every layer from ``data`` up
(``data/simulate.py`` writes through ``atomicio``).  The package's ``__init__`` (the version
only) is in the lowest layer.  A new top-level module must be given a layer in
:data:`LAYERS`; the test fails until it is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crsscore

PACKAGE_DIR = Path(crsscore.__file__).resolve().parent
ROOT = "crsscore"

#: Layers, lowest first.  A module belongs to the layer of the longest name here that is
#: the module itself or one of its packages.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("crsscore", "crsscore._types", "crsscore.errors", "crsscore._numeric", "crsscore.problems",
     "crsscore.columnar", "crsscore.splines"),
    ("crsscore.units", "crsscore.atomicio", "crsscore.csvsafe"),
    ("crsscore.data",),
    ("crsscore.grading", "crsscore.scores"),
    ("crsscore.modeling",),
    ("crsscore.validation",),
    ("crsscore.workflow",),
    ("crsscore.report",),
    ("crsscore.cli", "crsscore.service", "crsscore.monitor"),
)

#: Known violations, each with the issue item that removes it (empty since issue 19 landed:
#: keep it so).  An entry is an arrow (importing module, imported module); for a circle, the
#: one arrow the fix is expected to remove, the rest of the circle staying checked.  The test
#: fails on an entry that is no longer a violation (its arrow is gone, points down, or lies on
#: no circle).
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Arrow:
    """One import of a crsscore module by another."""

    importer: str
    imported: str
    line: int

    @property
    def where(self) -> str:
        return f"{module_path(self.importer)}:{self.line}"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_path(name: str) -> str:
    base = PACKAGE_DIR.parent.joinpath(*name.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    return str(path.relative_to(PACKAGE_DIR.parent.parent))


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matched name, layer)
    for rank, names in enumerate(LAYERS):
        for name in names:
            matches = module == name if name == ROOT else (
                module == name or module.startswith(name + "."))
            if matches and (best is None or len(name) > best[0]):
                best = (len(name), rank)
    return None if best is None else best[1]


def layer_text(rank: int) -> str:
    return ", ".join(n.removeprefix("crsscore.") for n in LAYERS[rank])


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    parts = importer.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, *([module] if module else [])])


def arrows_of(name: str, path: Path, known: set[str]) -> Iterator[Arrow]:
    """Every import of a crsscore module in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    uses_import_module = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    yield Arrow(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve_relative(name, is_package, node.level, node.module)
                    if node.level else (node.module or ""))
            if base != ROOT and not base.startswith(ROOT + "."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield Arrow(name, sub if sub in known else base, node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else (
                func.id if isinstance(func, ast.Name) else "")
            uses_import_module = uses_import_module or called == "import_module"
    if uses_import_module:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in known:
                yield Arrow(name, str(node.value), node.lineno)


def all_arrows() -> list[Arrow]:
    """The first import of each (importer, imported) pair, self-imports left out."""
    modules = all_modules()
    known = set(modules)
    first: dict[tuple[str, str], Arrow] = {}
    for name, path in modules.items():
        for arrow in arrows_of(name, path, known):
            key = (arrow.importer, arrow.imported)
            if arrow.imported != name and (key not in first or arrow.line < first[key].line):
                first[key] = arrow
    return sorted(first.values(), key=lambda a: (a.importer, a.line, a.imported))


def _graph(arrows: list[Arrow]) -> dict[str, list[Arrow]]:
    graph: dict[str, list[Arrow]] = {}
    for arrow in arrows:
        graph.setdefault(arrow.importer, []).append(arrow)
        graph.setdefault(arrow.imported, [])
    return graph


def strong_groups(arrows: list[Arrow]) -> list[list[str]]:
    """Groups of two or more modules that all reach each other (Tarjan's algorithm)."""
    graph = _graph(arrows)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the number of modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for arrow in graph[node]:
            nxt = arrow.imported
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def find_circles(arrows: list[Arrow]) -> list[list[Arrow]]:
    """One shortest circle through the first module of each strongly connected group."""
    graph = _graph(arrows)
    circles: list[list[Arrow]] = []
    for group in strong_groups(arrows):
        members = set(group)
        start = group[0]
        # breadth first from start back to start inside the group
        came_by: dict[str, Arrow] = {}
        frontier = [start]
        while start not in came_by:
            following: list[str] = []
            for node in frontier:
                for arrow in graph[node]:
                    nxt = arrow.imported
                    if nxt in members and nxt not in came_by:
                        came_by[nxt] = arrow
                        following.append(nxt)
            frontier = following
        path = [came_by[start]]
        while path[-1].importer != start:
            path.append(came_by[path[-1].importer])
        circles.append(path[::-1])
    return circles


def test_every_module_has_a_layer() -> None:
    missing = [name for name in all_modules() if layer_of(name) is None]
    assert not missing, (
        "modules outside every layer (give each a place in LAYERS of tests/test_layers.py): "
        + ", ".join(missing))


def test_no_arrow_from_a_lower_layer_up() -> None:
    broken: list[str] = []
    for arrow in all_arrows():
        if (arrow.importer, arrow.imported) in ALLOWED:
            continue
        low, high = layer_of(arrow.importer), layer_of(arrow.imported)
        if low is None or high is None or high <= low:
            continue
        broken.append(
            f"{arrow.where}: {arrow.importer} imports {arrow.imported}: an arrow from layer "
            f"{low} ({layer_text(low)}) up to layer {high} ({layer_text(high)}); rule: a module "
            "imports only from its own layer and those below it")
    assert not broken, "\n".join(broken)


def test_no_import_circle() -> None:
    arrows = [a for a in all_arrows() if (a.importer, a.imported) not in ALLOWED]
    broken: list[str] = []
    for circle in find_circles(arrows):
        names = " -> ".join([*(a.importer for a in circle), circle[0].importer])
        for arrow in circle:
            broken.append(
                f"{arrow.where}: {arrow.importer} imports {arrow.imported}, which closes the "
                f"import circle {names}; rule: no import circles")
    assert not broken, "\n".join(broken)


def test_allowlist_names_existing_violations() -> None:
    arrows = all_arrows()
    present = {(a.importer, a.imported) for a in arrows}
    group_of = {m: i for i, group in enumerate(strong_groups(arrows)) for m in group}

    def still_broken(importer: str, imported: str) -> bool:
        low, high = layer_of(importer), layer_of(imported)
        upward = low is not None and high is not None and high > low
        circular = importer in group_of and group_of[importer] == group_of.get(imported)
        return (importer, imported) in present and (upward or circular)

    stale = [f"{importer} -> {imported} ({why})"
             for (importer, imported), why in ALLOWED.items()
             if not still_broken(importer, imported)]
    assert not stale, ("these allowed violations are gone; remove them from ALLOWED in "
                       "tests/test_layers.py: " + "; ".join(stale))


# ---- the checker itself, on small made-up packages ---------------------------------------
def _arrow(a: str, b: str, line: int = 1) -> Arrow:
    return Arrow(f"crsscore.{a}", f"crsscore.{b}", line)


def test_circle_finder_reports_a_shortest_circle() -> None:
    arrows = [_arrow("a", "b", 3), _arrow("b", "c", 4), _arrow("c", "a", 5),
              _arrow("b", "a", 6), _arrow("c", "d", 7)]
    circles = find_circles(arrows)
    assert len(circles) == 1
    assert [(x.importer, x.imported) for x in circles[0]] == [
        ("crsscore.a", "crsscore.b"), ("crsscore.b", "crsscore.a")]
    assert find_circles([_arrow("a", "b"), _arrow("b", "c")]) == []
    assert strong_groups(arrows) == [["crsscore.a", "crsscore.b", "crsscore.c"]]


def test_relative_imports_resolve_against_the_importer(tmp_path: Path) -> None:
    source = ("from . import io\nfrom .check import x\nfrom .. import errors\n"
              "from ..modeling.firth import y\nimport crsscore.units\n"
              "def f():\n    from crsscore.data import io as z\n"
              "    if True:\n        from crsscore import workflow\n")
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    known = {"crsscore.data.io", "crsscore.data.check", "crsscore.errors",
             "crsscore.modeling.firth", "crsscore.units", "crsscore.workflow"}
    got = [(a.imported, a.line) for a in arrows_of("crsscore.data.mod", path, known)]
    assert sorted(got) == sorted([
        ("crsscore.data.io", 1), ("crsscore.data.check", 2), ("crsscore.errors", 3),
        ("crsscore.modeling.firth", 4), ("crsscore.units", 5), ("crsscore.data.io", 7),
        ("crsscore.workflow", 9)])
    init = tmp_path / "__init__.py"
    init.write_text("from . import io\nfrom .sub import q\n", encoding="utf-8")
    names = sorted(a.imported
                   for a in arrows_of("crsscore.data", init, known | {"crsscore.data.sub"}))
    assert names == ["crsscore.data.io", "crsscore.data.sub"]


def test_layers_place_modules_by_their_longest_package() -> None:
    assert layer_of("crsscore") == 0
    assert layer_of("crsscore.errors") == 0
    assert layer_of("crsscore.data.io") == 2
    assert layer_of("crsscore.scores.teachey") == layer_of("crsscore.grading.day") == 3
    assert layer_of("crsscore.service.routers.scoring") == layer_of("crsscore.cli") == 8
    assert layer_of("crsscore.newthing") is None
    assert layer_of("crsscore.datax") is None
