"""Start-up (issue 18.4): reading and checking a cohort loads no modelling library.

``crsscore check`` and ``crsscore score`` import the loaders, the checks and the batch
scoring (``scores.cohort_inputs``; expit, hence scipy, loads only for a logistic card);
scipy, scikit-learn, statsmodels and matplotlib cost about a second to import and are only
needed by fitting, validation and the report.  Each case runs in a fresh interpreter, since this
test session has imported them already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("scipy", "sklearn", "statsmodels", "matplotlib")


@pytest.mark.parametrize("module", ["crsscore.data.io", "crsscore.data.check",
                                    "crsscore.scores.cohort_inputs"])
def test_loading_and_checking_import_no_modelling_library(module: str) -> None:
    code = (f"import sys, json, {module}; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []


def test_the_problem_collector_imports_no_loader() -> None:
    """The collector sits beside errors.Problem, below the data layer."""
    code = ("import sys, json, crsscore.problems; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('crsscore.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert set(json.loads(out.stdout)) == {"crsscore.columnar", "crsscore.errors",
                                           "crsscore.problems"}
