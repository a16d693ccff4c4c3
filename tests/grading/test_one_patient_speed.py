"""Issue 17 (one-patient re-grading): the plain-array paths that replace pandas calls give
what the pandas calls gave, including on the inputs the fast paths hand back to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.data.simulate import simulate_cohort
from crsscore.grading import grade_cohort
from crsscore.grading._features import (
    _id_index,
    _patient_codes,
    _run_cumsum,
    factorize_text,
    id_positions,
)

ID_CASES = [["a", "b", None, "a"], ["x"], [], ["p1", "p2"], [None], ["p2", "p1", "p2"]]


@pytest.mark.parametrize("dtype", ["str", "string", object])
@pytest.mark.parametrize("values", ID_CASES)
def test_id_index_is_the_string_index(values: list[str | None], dtype: object) -> None:
    s = pd.Series(values, dtype=dtype, name="patient_id")
    expected = pd.Index(s.astype("string"))
    index, dup = _id_index(s)
    pd.testing.assert_index_equal(index, expected, exact=True)
    assert dup == expected.has_duplicates


@pytest.mark.parametrize("dtype", ["str", "string", object])
@pytest.mark.parametrize("values", ID_CASES)
def test_factorize_text_is_pandas_factorize(values: list[str | None], dtype: object) -> None:
    s = pd.Series(values, dtype=dtype)
    codes, uniques = factorize_text(s)
    exp_codes, exp_uniques = pd.factorize(s, use_na_sentinel=True)
    np.testing.assert_array_equal(codes, exp_codes)
    assert [str(u) for u in uniques] == [str(u) for u in exp_uniques]


@pytest.mark.parametrize("ids", [["P1"], ["P1", "P2", "P3"], ["P3"], []])
@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_patient_codes_match_the_index(ids: list[str], dtype: object) -> None:
    rows = pd.Series(["P1", "P2", None, "P3", "P9", "P1", "p1"], dtype=dtype)
    pid_index = pd.Index(pd.Series(ids, dtype="str").astype("string"))
    expected = pid_index.get_indexer(pd.Index(rows.astype("string")))
    np.testing.assert_array_equal(_patient_codes(rows, pid_index), expected)
    where = {p: i for i, p in enumerate(ids)}
    pos = id_positions(rows, where)
    if dtype is object:
        assert pos is None  # not Arrow strings: left to pandas
    else:
        assert pos is not None
        np.testing.assert_array_equal(pos, expected)


def test_run_cumsum_is_pandas_groupby_cumsum() -> None:
    """The compensated running sum over vasopressor runs is bit for bit pandas' groupby
    cumsum (skipna=False), NaN included, on values whose plain sum rounds differently."""
    rng = np.random.default_rng(17)
    n = 4000
    values = rng.choice([0.1, 0.2, 0.3, 1 / 3, 7.7, 24.0, 1e-9, np.nan], size=n,
                        p=[0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05])
    on = rng.random(n) < 0.7
    run_start = on & ((rng.random(n) < 0.2) | ~np.roll(on, 1))
    run_start[0] = on[0]
    run_id = np.cumsum(run_start)
    hrs = np.where(on, values, 0.0)
    expected = np.where(on, pd.Series(hrs).groupby(run_id).cumsum(skipna=False).to_numpy(),
                        0.0)
    got = _run_cumsum(values, on, run_start)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got).any() and (got > 0).any()
    # the compensation matters on these values: a plain running sum per run differs
    naive = np.zeros(n)
    for r in np.unique(run_id[on]):
        idx = np.flatnonzero(on & (run_id == r))
        naive[idx] = np.cumsum(values[idx])
    assert not np.array_equal(naive, expected, equal_nan=True)


def _one(cohort: Cohort, pid: str) -> Cohort:
    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["patient_id"].astype(str) == pid].reset_index(drop=True)
    return Cohort(patients=rows(cohort.patients), observations=rows(cohort.observations),
                  events=rows(cohort.events))


def test_one_patient_grades_as_in_the_cohort() -> None:
    """A patient graded alone gets the daily grades it gets inside the cohort (the monitor
    re-grades one patient through the same function)."""
    c = simulate_cohort(30, seed=5)
    whole = grade_cohort(c).daily
    for pid in c.patients["patient_id"].astype(str).tolist()[::7]:
        alone = grade_cohort(_one(c, pid)).daily
        part = whole[whole["patient_id"].astype(str) == pid].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            alone.drop(columns=["crs_reason", "icans_reason", "crs_criterion",
                                "icans_criterion", "crs_source", "icans_source"]),
            part.drop(columns=["crs_reason", "icans_reason", "crs_criterion",
                               "icans_criterion", "crs_source", "icans_source"]),
            check_exact=True)
        for col in ("crs_reason", "icans_reason", "crs_criterion", "crs_source"):
            assert alone[col].astype(str).tolist() == part[col].astype(str).tolist()


def test_astct_reason_table_follows_the_low_flow_setting() -> None:
    """The cached ASTCT reason table is per low-flow limit, and grading adds its own reasons
    without changing the cached one."""
    from crsscore.grading import GradingSettings

    c = Cohort(
        patients=pd.DataFrame({"patient_id": ["P1"]}),
        observations=pd.DataFrame({"patient_id": ["P1", "P1"], "day": [1.2, 2.2],
                                   "analyte": ["temp", "temp"], "value": [39.0, 38.6],
                                   "unit": ["C", "C"]}),
        events=pd.DataFrame({"patient_id": ["P1", "P1"], "day": [1.5, 2.5],
                             "event": ["oxygen", "death"], "value": [5.0, np.nan],
                             "unit": ["L/min", None], "detail": ["nasal_cannula", "crs"]}))
    reasons = []
    for limit in (4.0, 6.0, 4.0):
        daily = grade_cohort(c, settings=GradingSettings(low_flow_max_l_min=limit)).daily
        reasons.append(daily["crs_reason"].astype(str).tolist())
    assert reasons[0] == reasons[2] != reasons[1]
    assert "> 4 L/min" in reasons[0][0] and "<= 6 L/min" in reasons[1][0]
    assert reasons[0][1] == "death due to CRS"


@pytest.mark.parametrize("seed", range(30))
def test_select_is_numpy_select(seed: int) -> None:
    """The where-chain select gives np.select's values and dtype (ints of several widths,
    floats with NaN, scalar and array choices, overlapping conditions)."""
    from crsscore.grading._combine import select

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))
    conds = [rng.random(n) < 0.4 for _ in range(int(rng.integers(1, 6)))]
    pool = [3, -1, 0.5, np.nan, rng.integers(0, 5, n).astype(np.int8),
            rng.integers(0, 5, n).astype(np.int32), np.where(rng.random(n) < 0.3, np.nan, 2.0)]
    pick = rng.integers(0, len(pool), len(conds) + 1)
    choices = [pool[k] for k in pick[:-1]]
    default = pool[pick[-1]]
    expected = np.select(conds, choices, default)
    got = select(conds, choices, default)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_event_and_analyte_spellings_are_one_name() -> None:
    """Rows of one event spelled two ways (case, spaces) are graded as one event, in row
    order, as rows spelled alike are; so are analytes; missing days are problems."""
    def course(ice: list[str], temp: list[str]) -> Cohort:
        return Cohort(
            patients=pd.DataFrame({"patient_id": ["P1"]}),
            observations=pd.DataFrame({"patient_id": ["P1"] * 3, "day": [1.2, 2.2, np.nan],
                                       "analyte": temp, "value": [39.0, 38.6, 38.0],
                                       "unit": ["C", "C", "C"]}),
            events=pd.DataFrame({"patient_id": ["P1"] * 4, "day": [1.5, 2.5, 2.6, 2.7],
                                 "event": ice, "value": [6.0, 2.0, 9.0, 12.0],
                                 "unit": [None] * 4, "detail": [None] * 4}))
    alike = grade_cohort(course(["ice"] * 4, ["temp"] * 3))
    mixed = grade_cohort(course(["ICE", " ice ", "ice", "Ice"], ["Temp", "temp", " TEMP"]))
    pd.testing.assert_frame_equal(mixed.daily, alike.daily, check_exact=True)
    assert [(p.table, p.row, p.column) for p in mixed.problems] == \
        [(p.table, p.row, p.column) for p in alike.problems]
    assert {(p.table, p.column) for p in alike.problems} == {("observations", "day"),
                                                             ("events", "value")}
    assert alike.daily["icans_grade"].isna().tolist() == [False, True]  # ICE 12: not gradable
