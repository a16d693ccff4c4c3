"""The dynamic commands: derive-dynamic, score-dynamic and monitor replay (issue 16.5, 16.6)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.cli import _register, app
from crsscore.data.simulate import simulate_cohort, write_cohort


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(simulate_cohort(80, seed=5), out)
    return str(out)


def test_cli_derive_score_and_replay(folder: str, tmp_path) -> None:
    _register()
    runner = CliRunner()
    card = tmp_path / "dyn.json"
    r = runner.invoke(app, ["derive-dynamic", folder, "--horizons", "1,2", "--bootstrap", "10",
                            "--seed", "3", "--out", str(card), "--json",
                            str(tmp_path / "d.json")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "SYNTHETIC" in text and "never counted as non-events" in text
    body = json.loads(card.read_text())
    assert body["horizons"] == [1, 2] and body["seed"] == 3
    assert body["validation"]["B"] == 10
    r = runner.invoke(app, ["score-dynamic", folder, "--card", str(card), "--out",
                            str(tmp_path / "risks.csv")])
    assert r.exit_code == 0, r.output
    risks = pd.read_csv(tmp_path / "risks.csv")
    assert {"patient_id", "day", "risk_h1", "risk_h2"} <= set(risks.columns)
    r = runner.invoke(app, ["monitor", "replay", folder, "--card", str(card), "--threshold",
                            "0.1", "--plot", str(tmp_path / "t.png"), "--json",
                            str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "alerted before onset" in " ".join(r.output.split())
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["command"] == "monitor replay" and "share_alerted" in rep
    assert (tmp_path / "t.png").exists()


def test_cli_refuses_bad_horizons_and_missing_card(folder: str, tmp_path) -> None:
    _register()
    runner = CliRunner()
    r = runner.invoke(app, ["derive-dynamic", folder, "--horizons", "a,b", "--out",
                            str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "--horizons" in " ".join(r.output.split())
    r = runner.invoke(app, ["score-dynamic", folder, "--card", str(tmp_path / "none.json"),
                            "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 2 and "not found" in " ".join(r.output.split())
