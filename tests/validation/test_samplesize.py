"""Tests of crsscore.validation.samplesize and the ``crsscore samplesize`` command.

References: pmsampsize (R) README example (csrsquared 0.288, 24 parameters, prevalence 0.174
-> 662) and pmsampsize 1.0.x's own testthat expectations (tests/testthat/test_bin.R, which
rounded intermediate values: reproduced with ``legacy_rounding=True``); Riley et al. (BMJ 2020)
closed forms computed by hand; and pmsampsize's simulation-based ``cstat2rsq`` run in R
(tests/fixtures/proc/make_fixtures.R, seed 123456, 1e6 simulated patients), whose Monte Carlo
error bounds the agreement with the exact value computed here.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.errors import SampleSizeWarning
from crsscore.validation.samplesize import (
    DEFAULT_C_STATISTIC,
    check_sample_size,
    cstat_to_r2,
    max_r2_cs,
    sample_size,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "proc"


def test_pmsampsize_readme_example() -> None:
    res = sample_size(0.174, 24, r2_cs=0.288)
    assert res.n == 662
    assert [c.n for c in res.criteria] == [623, 662, 221]
    assert math.ceil(res.events) == 116
    assert round(res.epp, 2) == 4.80
    assert res.binding.name == "Criterion 2"
    assert res.max_r2 == pytest.approx(0.6032, abs=5e-5)
    assert res.r2_nagelkerke == pytest.approx(0.288 / res.max_r2)


@pytest.mark.parametrize(
    ("r2", "params", "prev", "sizes", "epp"),
    [  # pmsampsize tests/testthat/test_bin.R (1.0.x, rounded intermediates)
        (0.288, 24, 0.174, [623, 668, 221, 668], [4.52, 4.84, 1.6, 4.84]),
        (0.55, 24, 0.174, [255, 532, 221, 532], [1.85, 3.86, 1.6, 3.86]),
        (0.288, 36, 0.174, [934, 1002, 221, 1002], [4.51, 4.84, 1.07, 4.84]),
        (0.288, 24, 0.25, [623, 583, 289, 623], [6.49, 6.07, 3.01, 6.49]),
    ],
)
def test_pmsampsize_published_tests(r2: float, params: int, prev: float, sizes: list[int],
                                    epp: list[float]) -> None:
    res = sample_size(prev, params, r2_cs=r2, legacy_rounding=True)
    assert [c.n for c in res.criteria] + [res.n] == sizes
    assert [round(c.epp, 2) for c in res.criteria] + [round(res.epp, 2)] == epp


def test_criteria_by_hand() -> None:
    prev, p, r2 = 0.2, 8, 0.12
    res = sample_size(prev, p, r2_cs=r2, shrinkage=0.85, margin=0.04)
    n1 = math.ceil(p / ((0.85 - 1) * math.log(1 - r2 / 0.85)))
    mx = 1 - math.exp(2 * (prev * math.log(prev) + (1 - prev) * math.log(1 - prev)))
    s2 = r2 / (r2 + 0.05 * mx)
    n2 = math.ceil(p / ((s2 - 1) * math.log(1 - r2 / s2)))
    n3 = math.ceil((1.96 / 0.04) ** 2 * prev * (1 - prev))
    assert [c.n for c in res.criteria] == [n1, n2, n3]
    assert res.n == max(n1, n2, n3)
    assert res.max_r2 == pytest.approx(mx) == pytest.approx(max_r2_cs(prev))
    assert res.shrinkage == pytest.approx(max(0.85, s2))
    frame = res.to_frame()
    assert list(frame.index) == ["Criterion 1", "Criterion 2", "Criterion 3", "Final"]
    assert frame.loc["Final", "n"] == res.n
    assert "Riley" in res.summary() and str(res.n) in res.summary()
    assert res.to_dict()["n"] == res.n


def test_spec_anchor_15_percent_10_parameters() -> None:
    """statistics.md: a 15 % prevalence, 10-parameter model needs about 850 patients."""
    assert sample_size(0.15, 10, r2_cs=0.10).n == pytest.approx(850, abs=5)
    assert sample_size(0.15, 10, c_statistic=DEFAULT_C_STATISTIC).n == pytest.approx(850, rel=0.05)


def test_cstat_to_r2_matches_pmsampsize_simulation() -> None:
    ref = pd.read_csv(FIX / "reference.csv")
    ref = ref[ref["section"] == "cstat2rsq"]
    assert len(ref) == 4
    for name, value in zip(ref["name"], ref["value"], strict=True):
        c, prev = (float(part.split("=")[1]) for part in name.split(","))
        assert cstat_to_r2(c, prev) == pytest.approx(float(value), abs=2e-3), name
    # symmetric in the outcome coding, increasing in C
    assert cstat_to_r2(0.8, 0.3) == pytest.approx(cstat_to_r2(0.8, 0.7), abs=1e-10)
    assert cstat_to_r2(0.7, 0.2) < cstat_to_r2(0.8, 0.2) < cstat_to_r2(0.9, 0.2)


def test_cstat_to_r2_against_a_large_simulation() -> None:
    rng = np.random.default_rng(1)
    from crsscore.modeling.logistic import fit_logistic

    c, prev, n = 0.8, 0.25, 200_000
    mu = math.sqrt(2) * 0.8416212335729143  # qnorm(0.8)
    m = int(prev * n)
    lp = np.r_[rng.normal(mu, 1, m), rng.normal(0, 1, n - m)]
    y = np.r_[np.ones(m), np.zeros(n - m)]
    fit = fit_logistic(lp, y)
    ll0 = m * math.log(prev) + (n - m) * math.log(1 - prev)
    r2_sim = 1 - math.exp(-2 * (fit.loglik - ll0) / n)
    assert cstat_to_r2(c, prev) == pytest.approx(r2_sim, abs=3e-3)


def test_nagelkerke_input() -> None:
    res = sample_size(0.174, 24, r2_nagelkerke=0.4)
    assert res.r2_cs == pytest.approx(0.4 * max_r2_cs(0.174))
    assert res.r2_source == "Nagelkerke R2" and "Nagelkerke" in res.summary()
    res_c = sample_size(0.174, 24, c_statistic=0.89)
    assert res_c.r2_source == "C statistic" and res_c.c_statistic == 0.89
    assert abs(res_c.n - 662) <= 5  # C 0.89 implies a Cox-Snell R2 close to 0.288


def test_check_sample_size() -> None:
    ok, text = check_sample_size(125, 17, 7)
    assert not ok and "smaller than Riley's minimum" in text and "125 patients" in text
    with pytest.warns(SampleSizeWarning, match="smaller than Riley's minimum"):
        check_sample_size(125, 17, 7, warn=True)
    ok, text = check_sample_size(2000, 300, 5, r2_cs=0.15)
    assert ok and "meet Riley's minimum" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_sample_size(2000, 300, 5, r2_cs=0.15, warn=True)
    assert sample_size(0.15, 10, r2_cs=0.1).n == 850
    assert check_sample_size(860, 129, 10, r2_cs=0.1)[0] is True  # prevalence 0.15
    assert check_sample_size(840, 126, 10, r2_cs=0.1)[0] is False
    need_c = sample_size(0.15, 10, c_statistic=0.8).n
    assert check_sample_size(need_c + 20, 3 * (need_c + 20) // 20, 10, c_statistic=0.8)[0]
    ok, text = check_sample_size(50, 0, 3)
    assert not ok and "no model can be developed" in text
    with pytest.warns(SampleSizeWarning, match="no model"):
        check_sample_size(50, 50, 3, warn=True)


def test_errors() -> None:
    with pytest.raises(ValueError, match="'prevalence' parameter of sample_size"):
        sample_size(1.2, 10, r2_cs=0.1)
    with pytest.raises(ValueError, match="'n_parameters' parameter of sample_size"):
        sample_size(0.2, 0, r2_cs=0.1)
    with pytest.raises(ValueError, match="'n_parameters' parameter of sample_size"):
        sample_size(0.2, 2.5, r2_cs=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one of"):
        sample_size(0.2, 10)
    with pytest.raises(ValueError, match="exactly one of"):
        sample_size(0.2, 10, r2_cs=0.1, c_statistic=0.8)
    with pytest.raises(ValueError, match="largest possible"):
        sample_size(0.05, 10, r2_cs=0.35)  # max is 0.328
    with pytest.raises(ValueError, match="below the target shrinkage"):
        sample_size(0.5, 10, r2_cs=0.6, shrinkage=0.55)
    with pytest.raises(ValueError, match=r"above 0\.5"):
        cstat_to_r2(0.4, 0.2)
    with pytest.raises(ValueError, match="'shrinkage' parameter"):
        sample_size(0.2, 10, r2_cs=0.1, shrinkage=1.0)
    with pytest.raises(ValueError, match="'n' parameter of check_sample_size"):
        check_sample_size(0, 0, 3)
    with pytest.raises(ValueError, match="'events' parameter of check_sample_size"):
        check_sample_size(10, 11, 3)


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli():  # type: ignore[no-untyped-def]
    from crsscore.cli import _register, app

    _register()
    return app


def test_cli_samplesize_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ss.json"
    r = CliRunner().invoke(cli, ["samplesize", "--prevalence", "0.174", "--parameters", "24",
                                 "--r2", "0.288", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "662" in r.output and "Criterion 2" in r.output
    body = json.loads(out.read_text())
    assert body["command"] == "samplesize" and body["sample_size"] == 662
    assert [c["n"] for c in body["criteria"]] == [623, 662, 221]
    assert body["assumed"] is False


def test_cli_samplesize_auc_and_default(cli) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(cli, ["samplesize", "--prevalence", "0.136", "--parameters", "7",
                                 "--auc", "0.8", "--json", "-"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["sample_size"] == sample_size(0.136, 7, c_statistic=0.8).n
    r = CliRunner().invoke(cli, ["samplesize", "--prevalence", "0.136", "--parameters", "7"])
    assert r.exit_code == 0
    assert "assuming C statistic 0.75" in r.output
    assert str(sample_size(0.136, 7, c_statistic=0.75).n) in r.output


def test_cli_samplesize_errors(cli) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(cli, ["samplesize", "--prevalence", "1.3", "--parameters", "7"])
    assert r.exit_code == 2 and "'prevalence' parameter" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["samplesize", "--prevalence", "0.2", "--parameters", "7",
                                 "--r2", "0.1", "--auc", "0.7"])
    assert r.exit_code == 2 and "only one of" in r.output


def test_docstring_examples() -> None:
    import doctest

    from crsscore.validation import samplesize

    result = doctest.testmod(samplesize)
    assert result.attempted >= 1 and result.failed == 0
