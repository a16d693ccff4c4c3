"""``crsscore report``: the command line shell over build_report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crsscore.cli import _register, app
from report_html import parse

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crsscore.data.simulate import simulate_cohort, write_cohort

    out = tmp_path_factory.mktemp("cohort") / "cohort"
    write_cohort(simulate_cohort(n=70, seed=3), out)
    return out


@pytest.mark.parametrize(
    ("args", "match"),
    [(["--out", "r.txt"], "--out must name an .html file"),
     (["--out", "r.html", "--bootstrap", "-1"], "--bootstrap must be 0 or a positive")],
)
def test_bad_options_exit_2_with_a_message(cohort_dir: Path, tmp_path: Path, args: list[str], match: str) -> None:
    args = [a if a not in ("r.txt", "r.html") else str(tmp_path / a) for a in args]
    res = runner.invoke(app, ["report", str(cohort_dir), *args])
    assert res.exit_code == 2
    assert match in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_missing_data_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_report_command_writes_the_page_tables_and_json(cohort_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep" / "report.html"
    res = runner.invoke(app, ["report", str(cohort_dir), "--out", str(out), "--landmark", "day3",
                              "--bootstrap", "0", "--seed", "2", "--no-builtin", "--json", "-",
                              "--allow-small-sample"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output[res.output.index("{"):])
    assert payload["command"] == "report" and payload["report"] == str(out)
    assert payload["seed"] == 2 and payload["synthetic"] is True
    p = parse(out.read_text(encoding="utf-8"))
    assert p.ids["n-analysed"] == str(payload["n_analysed"])
    assert p.ids["n-events"] == str(payload["events"])
    assert "no-validation" in p.ids and "auc-corrected" not in p.ids  # B = 0: said so, not faked
    assert (out.parent / "report_tables" / "flow.csv").exists()
    lims = p.ids["limitations"]
    assert "No bootstrap internal validation was run (B = 0)" in lims
    assert "loses" in lims and "apparent AUC" in lims  # the cost of rounding into points
    assert "sample-size floor" in lims  # derived only because it was asked for


def test_report_refuses_below_the_floor_and_names_the_flag(cohort_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(cohort_dir), "--out", str(tmp_path / "r.html"),
                              "--landmark", "day3", "--bootstrap", "0", "--no-builtin"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "fewer than 10" in text and "--allow-small-sample" in text


def test_report_adds_the_daily_model_on_request(cohort_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dyn" / "report.html"
    res = runner.invoke(app, ["report", str(cohort_dir), "--out", str(out), "--landmark", "day3",
                              "--bootstrap", "4", "--seed", "2", "--no-builtin",
                              "--allow-small-sample", "--dynamic", "--dynamic-threshold", "0.2"])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert '<section id="dynamic">' in html and "tbl-dyn-replay" in html
    assert "never counted as non-events" in html
