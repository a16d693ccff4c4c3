"""``crsscore score`` lists a value the card refuses by file, row and column, as ``check`` does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from crsscore.cli import _register, app
from crsscore.data.simulate import simulate_cohort, write_cohort

_register()
runner = CliRunner()


def test_score_names_the_file_row_of_a_refused_value(tmp_path: Path) -> None:
    folder = tmp_path / "cohort"
    write_cohort(simulate_cohort(n=30, seed=3), folder)
    obs = pd.read_csv(folder / "observations.csv")
    # EASIX divides by the platelets: a pre-lymphodepletion count of 0 cannot be scored
    pre_ld = obs.index[(obs["analyte"] == "plt") & obs["day"].between(-12.5, -4.5)]
    rows = [int(i) for i in pre_ld[:2]]
    obs.loc[rows, "value"] = 0
    obs.to_csv(folder / "observations.csv", index=False)

    res = runner.invoke(app, ["score", str(folder), "--scorecard", "easix",
                              "--out", str(tmp_path / "scores.csv")])
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert "Data error (2 problem(s))" in out
    for row in rows:  # file rows: the header is row 1
        assert (f"observations (observations.csv) row {row + 2}, column 'plt': cannot compute "
                "score 'easix' (plt): needs a positive value (it divides the score) "
                "(got '0 10^9/L'; expected > 0 10^9/L)") in out
    assert not (tmp_path / "scores.csv").exists()
