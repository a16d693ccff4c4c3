"""The loaders' column helpers give what pandas and the frame path give (issue 17).

The ward monitor's check of a request builds the loaders' raw tables from the request's
columns (``columnar.column_of``, ``canonical.tables_from_columns``) instead of from frames,
and the loaders read codes from arrays as well as from Series: every helper must give the
very result of the pandas call it stands for.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crsscore.columnar import categorical, column_of, encode, frame_of
from crsscore.data.canonical import tables_from_cohort, tables_from_columns
from crsscore.data.cells import map_text
from crsscore.data.check import _repeated, validate_tables
from crsscore.data.cohort import Cohort
from crsscore.data.schema import EVENT_COLUMNS, OBSERVATION_COLUMNS
from crsscore.data.simulate import simulate_cohort

NAN = float("nan")

LISTS: list[list[Any]] = [
    [1.5, 2.0], [1.5, NAN], [1.5, None], [1, 2.5], [1, 2], [True, False], [True, 1.0],
    ["a", "b"], ["a", NAN], ["a", None], [None, "a"], ["a", 1.0], ["12.5", 3.0], [None, None],
    [NAN, NAN], [], [np.float64(1.0), 2.0], [pd.Timestamp("2024-01-01")], [2**70, 1],
    ["", " x "],
]


@pytest.mark.parametrize("values", LISTS, ids=[repr(v) for v in LISTS])
def test_column_of_is_the_column_pandas_builds(values: list[Any]) -> None:
    want = pd.DataFrame({"c": values, "n": np.arange(len(values), dtype=np.float64)})
    got = frame_of({"c": column_of(values), "n": np.arange(len(values), dtype=np.float64)})
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)


def _cohort() -> Cohort:
    """A small cohort with bad cells of every kind the loaders report."""
    c = simulate_cohort(n=4, seed=3)
    o = c.observations.copy()
    o["value"] = o["value"].astype(object)
    o.loc[1, "value"] = "abc"
    o.loc[2, "unit"] = "furlongs"
    o.loc[3, "analyte"] = "unobtainium"
    o.loc[4, "patient_id"] = "NOBODY"
    o.loc[5, "value"] = 1e9
    o.loc[6, "day"] = None
    e = c.events.copy()
    e.loc[0, "event"] = "levitation"
    p = c.patients.copy()
    p.loc[1, "sex"] = "X"
    return Cohort(patients=p, observations=o, events=e)


def _columns(frame: pd.DataFrame) -> dict[str, Any]:
    return {str(c): column_of(frame[c].tolist()) for c in frame.columns}


def _as_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame pandas builds from the frame's values as lists (as a request's rows)."""
    return pd.DataFrame({c: frame[c].tolist() for c in frame.columns})


@pytest.mark.parametrize("empty_events", [False, True])
def test_tables_from_columns_are_those_of_the_cohort(empty_events: bool) -> None:
    c = _cohort()
    events = c.events.iloc[0:0] if empty_events else c.events
    frames = Cohort(patients=_as_lists(c.patients), observations=_as_lists(c.observations),
                    events=_as_lists(events) if len(events) else
                    pd.DataFrame({k: pd.Series(dtype=object) for k in EVENT_COLUMNS}))
    want = tables_from_cohort(frames)
    got = tables_from_columns(_columns(c.patients), _columns(c.observations),
                              _columns(events) if len(events) else
                              {k: np.empty(0, dtype=object) for k in EVENT_COLUMNS})
    validate_tables(want)
    validate_tables(got)
    for name in ("patients", "observations", "events"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name),
                                      check_exact=True)
    assert got.collector.problems == want.collector.problems
    assert {p.code for p in got.collector.problems} >= {
        "not_a_number", "unknown_unit", "unknown_analyte", "unknown_patient", "out_of_range",
        "missing_day", "unknown_category"} | (set() if empty_events else {"unknown_event"})
    pd.testing.assert_frame_equal(got.collector.exclusions(), want.collector.exclusions())
    assert set(OBSERVATION_COLUMNS) <= set(got.observations.columns)


COLUMNS: list[Any] = [
    pd.array(["b", None, "a", "b"], dtype="str"),
    categorical(np.array([1, -1, 0, 1]), ["x", "y"]),
    np.array(["b", None, 3, "b"], dtype=object),
    np.array([2.0, NAN, 1.0, 2.0]),
]


@pytest.mark.parametrize("array", COLUMNS, ids=["str", "categorical", "object", "float"])
def test_encode_of_an_array_is_that_of_its_series(array: Any) -> None:
    from_array = encode(array)
    from_series = encode(pd.Series(array))
    assert from_array[0].tolist() == from_series[0].tolist()
    assert [type(u) for u in from_array[1]] == [type(u) for u in from_series[1]]
    assert [str(u) for u in from_array[1]] == [str(u) for u in from_series[1]]


@pytest.mark.parametrize("values", [["a", "b", "a"], ["a", None, None, "b"], [], ["x"],
                                    [None, "a", "b"]])
def test_repeated_is_duplicated_keep_false(values: list[Any]) -> None:
    series = pd.Series(values, dtype="str")
    assert _repeated(series).tolist() == series.duplicated(keep=False).tolist()


@pytest.mark.parametrize("dtype", ["str", object])
@pytest.mark.parametrize("func", [str.upper, lambda v: v, lambda v: {"a": "A"}.get(v, v)])
def test_map_text_is_the_decoded_mapping(func: Any, dtype: Any) -> None:
    text = pd.Series(["a", None, "b", "a"], dtype=dtype)
    got = map_text(text, func)
    want = pd.Series([None if v is None or (isinstance(v, float) and math.isnan(v))
                      else func(v) for v in text.tolist()], dtype="str")
    pd.testing.assert_series_equal(got, want, check_exact=True)
