"""The derive, score, compare and validate commands end to end on simulated cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.cli import _register, app
from crsscore.data.simulate import simulate_cohort, write_cohort
from crsscore.scores.scorecard import ScoreCard

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cohorts")
    a, b = base / "derivation", base / "validation"
    write_cohort(simulate_cohort(n=160, seed=3), a)
    write_cohort(simulate_cohort(n=160, seed=4), b)
    return a, b


def test_derive_score_validate_compare(cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    derivation, validation = cohorts
    card_path, out_json = tmp_path / "card.json", tmp_path / "derive.json"
    res = runner.invoke(app, ["derive", str(derivation), "--out", str(card_path),
                              "--prior-outcome", "keep", "--imputations", "2",
                              "--bootstrap", "20", "--seed", "5", "--json", str(out_json)])
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" in res.output
    card = ScoreCard.from_json(card_path)
    summary = json.loads(out_json.read_text())
    assert summary["scored"] == [v.name for v in card.variables]
    assert set(summary["scored"]) <= set(summary["selected"])
    assert card.sample_size is not None and summary["sample_size"]["n"] == card.sample_size.n
    # the points: a small monotone scale, the AUC they lose said, each reachable total once
    assert summary["max_total"] <= 20 and "points lose" in " ".join(res.output.split())
    assert "0.0 %" not in res.output
    assert card.performance.extra["auc_loss_points"] == pytest.approx(summary["auc_loss_points"])
    assert summary["seed"] == 5 and summary["synthetic"] is True
    assert card.performance.bootstrap_B == 20
    assert card.provenance.synthetic_data and card.provenance.data_hash == summary["data_hash"]

    scores = tmp_path / "scores.csv"
    res = runner.invoke(app, ["score", str(validation), "--scorecard", str(card_path),
                              "--out", str(scores)])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(scores)
    assert len(frame) == 160 and {"total", "probability", "risk_group"} <= set(frame.columns)

    vjson = tmp_path / "validate.json"
    res = runner.invoke(app, ["validate", str(validation), "--scorecard", str(card_path),
                              "--recalibrate", "logistic", "--bootstrap", "50", "--json", str(vjson)])
    assert res.exit_code == 0, res.output
    v = json.loads(vjson.read_text())
    assert v["n_scored"] <= v["n"] == 160
    assert 0.0 <= v["auc"]["auc"] <= 1.0
    assert v["recalibrated"]["method"] == "logistic"

    cjson = tmp_path / "compare.json"
    res = runner.invoke(app, ["compare", str(validation), "--scorecard", str(card_path),
                              "--json", str(cjson)])
    assert res.exit_code == 0, res.output
    c = json.loads(cjson.read_text())
    ids = [s["card_id"] for s in c["scores"]]
    assert ids[0] == card.id and "m-easix" in ids and "car-hematotox" in ids
    assert all(s["n_scored"] + s["n_unscored"] <= 160 for s in c["scores"])


def test_derive_learned_points(cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    derivation, _ = cohorts
    card_path = tmp_path / "learned.json"
    res = runner.invoke(app, ["derive", str(derivation), "--out", str(card_path),
                              "--prior-outcome", "keep", "--points", "learned",
                              "--max-features", "3", "--certify", "120"])
    assert res.exit_code == 0, res.output
    # the exact check ran on the reported score and says what it proved (rich wraps lines)
    out = " ".join(res.output.split())
    assert "Exact check over all multipliers (support enumeration): proven optimal" in out
    card = ScoreCard.from_json(card_path)
    from crsscore.modeling.intscore import METHOD

    assert card.provenance.method == METHOD
    points = [b.points for v in card.variables for b in v.bands] + \
        [v.threshold_points for v in card.variables if v.kind == "binary"]
    assert points and all(p == int(p) for p in points)


@pytest.mark.parametrize("args", [
    ["derive", "/nonexistent/folder", "--out", "x.json"],
    ["derive", "{cohort}", "--out", "{tmp}/x.json", "--method", "bayes"],
    ["derive", "{cohort}", "--out", "{tmp}/x.json", "--candidates", "nonsense"],
    ["score", "{cohort}", "--scorecard", "{tmp}/missing.json", "--out", "{tmp}/s.csv"],
    ["validate", "{cohort}", "--scorecard", "easix", "--recalibrate", "sideways"],
    ["derive", "{cohort}", "--out", "{tmp}/x.json", "--landmark", "day200"],
    ["derive", "{cohort}", "--out", "{tmp}/x.json", "--candidates", "crp,crp"],
    ["derive", "{cohort}", "--out", "{tmp}/x.json", "--landmark", "someday"],
    ["derive", "{cohort}", "--out", "{tmp}/x.json", "--certify", "10"],  # sullivan points
])
def test_bad_input_gives_a_message_not_a_traceback(args: list[str], cohorts: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    filled = [a.format(cohort=cohorts[0], tmp=tmp_path) for a in args]
    res = runner.invoke(app, filled)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
