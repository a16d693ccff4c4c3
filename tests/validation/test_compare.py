"""Head-to-head comparison: yes/no rules evaluated as such, windows named, --at labelled
(issue 14.7 and 14.8)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crsscore.cli import _register, app
from crsscore.data.cohort import Cohort
from crsscore.data.simulate import simulate_cohort, write_cohort
from crsscore.scores.builtin import get_builtin
from crsscore.validation.compare import compare_scores
from crsscore.workflow import cohort_outcomes

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return simulate_cohort(n=150, seed=5)


@pytest.fixture(scope="module")
def outcome(cohort: Cohort):  # type: ignore[no-untyped-def]
    return cohort_outcomes(cohort).frame


def _day0(cohort: Cohort) -> Cohort:
    """The same patients with every laboratory value before infusion removed."""
    obs = cohort.observations
    return Cohort(cohort.patients, obs[obs["day"] >= 0].reset_index(drop=True), cohort.events)


def test_binary_rule_is_evaluated_as_yes_no(cohort: Cohort, outcome) -> None:  # type: ignore[no-untyped-def]
    comp = compare_scores([get_builtin("easix"), get_builtin("easix-preld-4.67")], cohort, outcome)
    cont, rule = comp.evaluations
    assert not cont.binary and rule.binary and rule.positive_group == "high"
    assert rule.n_scored == cont.n_scored > 0
    assert not math.isclose(rule.auc, cont.auc)  # it used to be exactly the continuous AUC
    sc = rule.scores.dropna(subset=["marker", "y"])
    yes = sc["total"].to_numpy() > 4.67
    y = sc["y"].to_numpy(dtype=int)
    sens, spec = yes[y == 1].mean(), (~yes[y == 0]).mean()
    assert set(sc["marker"]) <= {0.0, 1.0}
    assert rule.sensitivity == pytest.approx(sens) and rule.specificity == pytest.approx(spec)
    assert rule.auc == pytest.approx((sens + spec) / 2)
    assert rule.sensitivity_ci[0] <= sens <= rule.sensitivity_ci[1]
    row = comp.to_frame().set_index("card_id").loc["easix-preld-4.67"]
    assert row["evaluated as"] == "yes/no rule" and row["sensitivity"] == pytest.approx(sens)
    # the paired test uses the yes/no call too
    assert comp.paired.set_index("card_id").loc["easix-preld-4.67", "diff"] == pytest.approx(
        rule.auc - cont.auc)


def test_day0_cohort_names_the_window_and_at_moves_the_score(cohort: Cohort, outcome) -> None:  # type: ignore[no-untyped-def]
    c0 = _day0(cohort)
    comp = compare_scores([get_builtin("m-easix")], c0, outcome)
    e = comp.evaluations[0]
    assert e.n_scored == 0 and not e.deviation and e.evaluated_at == "pre-ld"
    assert "day -12.5 to day -4.5" in e.window and "day -12.5 to day -4.5" in e.note
    assert "this cohort's values: day 0" in e.note and "--at" in e.note
    moved = compare_scores([get_builtin("m-easix")], c0, outcome, at="day0").evaluations[0]
    assert moved.n_scored > 0 and np.isfinite(moved.auc)
    assert moved.evaluated_at == "day0" and moved.evaluated_day == 0.0
    assert "DEVIATION" in moved.deviation and "pre-ld" in moved.deviation
    assert "day -7.5 to day 0.5" in moved.window
    # per card; the card evaluated at its own timepoint carries no deviation
    comp = compare_scores([get_builtin("m-easix"), get_builtin("hay2017")], c0, outcome,
                          at={"m-easix": "day0", "hay2017": "day0"})
    assert [bool(x.deviation) for x in comp.evaluations] == [True, False]
    frame = comp.to_frame()
    assert frame.loc[0, "evaluated at"].startswith("day0 (DEVIATION")
    assert "DEVIATION" in frame.loc[0, "note"]
    assert [d["card_id"] for d in comp.to_dict()["deviations"]] == ["m-easix"]


def test_compare_cli_at_is_labelled_in_terminal_and_json(cohort: Cohort, tmp_path: Path) -> None:
    folder = tmp_path / "d0"
    write_cohort(_day0(cohort), folder)
    out = tmp_path / "c.json"
    res = runner.invoke(app, ["compare", str(folder), "--json", str(out)],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "no value from day -12.5 to day -4.5" in text and "DEVIATION" not in text
    res = runner.invoke(app, ["compare", str(folder), "--at", "day0", "--json", str(out)],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "DEVIATION from the published timepoint" in text
    assert "evaluated at day0 (day 0), not at pre-ld as published" in text
    assert "easix-preld-4.67: a yes/no rule" in text and "sensitivity" in text
    assert "…" not in res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["at"] == "day0"
    by_id = {s["card_id"]: s for s in data["scores"]}
    assert by_id["m-easix"]["evaluated_at"] == "day0" and "DEVIATION" in by_id["m-easix"]["deviation"]
    assert by_id["hay2017"]["deviation"] == ""  # published at day 0 already
    assert by_id["easix-preld-4.67"]["binary"] is True
    assert by_id["easix-preld-4.67"]["auc"] != by_id["easix"]["auc"]
    assert {d["card_id"] for d in data["deviations"]} >= {"m-easix", "easix", "car-hematotox"}
    res = runner.invoke(app, ["compare", str(folder), "--at", "day0", "--at", "day1"])
    assert res.exit_code == 2 and "one timepoint" in res.output
