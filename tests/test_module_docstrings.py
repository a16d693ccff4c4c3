"""Every module under src/crsscore opens with a one-sentence summary of its one job."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import crsscore

PACKAGE_DIR = Path(crsscore.__file__).resolve().parent
MAX_LENGTH = 100

#: A sentence ends at ., ! or ? followed by space and a capital or a code span, except after
#: an abbreviation ("et al. ", "e.g. ", "i.e. ", "vs. ", "cf. ").
_SENTENCE_BREAK = re.compile(
    r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bcf)[.!?]\s+[A-Z`]")


def summary_problem(doc: str | None) -> str | None:
    """What is wrong with a module docstring's first line, or None."""
    if doc is None or not doc.strip():
        return "no module docstring"
    lines = doc.strip().splitlines()
    first = lines[0].strip()
    if len(lines) > 1 and lines[1].strip():
        return ("the summary runs on to a second line (keep it to one line, then a blank line): "
                f"{first!r}")
    if not first.endswith("."):
        return f"the first line does not end with a period: {first!r}"
    if len(first) > MAX_LENGTH:
        return f"the first line has {len(first)} characters (at most {MAX_LENGTH}): {first!r}"
    if _SENTENCE_BREAK.search(first[:-1]):
        return f"the first line holds more than one sentence: {first!r}"
    return None


def test_every_module_opens_with_a_one_sentence_summary() -> None:
    problems = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=True)
        problem = summary_problem(doc)
        if problem:
            problems.append(f"{path.relative_to(PACKAGE_DIR.parent.parent)}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("doc", "problem"), [
    (None, "no module docstring"),
    ("  ", "no module docstring"),
    ("Atomic output files.", None),
    ("A refit of the Teachey et al. (Cancer Discov 2016) structure.\n\nMore.", None),
    ("Reads files, e.g. CSV and Parquet.", None),
    ("Atomic output files", "does not end with a period"),
    ("Atomic output\nfiles.", "runs on to a second line"),
    ("Validation commands.  For now samplesize.", "more than one sentence"),
    ("Writes. ``x`` too.", "more than one sentence"),
    ("x" * 100 + ".", "101 characters"),
])
def test_summary_rules(doc: str | None, problem: str | None) -> None:
    got = summary_problem(doc)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got
