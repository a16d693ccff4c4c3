"""The card extractor and the landmark table read the same values: one rule, two callers."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.data.cohort import Cohort
from crsscore.data.landmark import AGGREGATES, LandmarkTable, build_landmark_table
from crsscore.data.simulate import simulate_cohort
from crsscore.scores.cohort_inputs import card_inputs
from crsscore.scores.scorecard import ScoreCard

LANDMARKS = ("pre-ld", "day0", "day3", "day7")
CODES = ("crp", "il6", "ferritin", "ldh", "plt", "anc", "temp")


@lru_cache(maxsize=16)
def _simulated(seed: int, n: int) -> Cohort:
    return simulate_cohort(n, seed=seed)


def _variant(cohort: Cohort, *, in_mg_dl: float, whole_days: bool, shuffle: int | None) -> Cohort:
    """The cohort with some CRP rows in mg/dL, days rounded (many ties) and rows reordered."""
    obs = cohort.observations.copy()
    rng = np.random.default_rng(0 if shuffle is None else shuffle)
    crp = (obs["analyte"] == "crp").to_numpy() & (rng.random(len(obs)) < in_mg_dl)
    obs["value"] = np.where(crp, obs["value"] / 10.0, obs["value"])
    obs["unit"] = np.where(crp, "mg/dL", obs["unit"].astype(object))
    if whole_days:
        obs["day"] = np.round(obs["day"].to_numpy(dtype=float))
    if shuffle is not None:
        obs = obs.iloc[rng.permutation(len(obs))].reset_index(drop=True)
    return Cohort(patients=cohort.patients, observations=obs, events=cohort.events,
                  synthetic=True)


def _card_for(table: LandmarkTable, codes: tuple[str, ...], aggregate: str) -> ScoreCard:
    """A card whose variables read ``codes`` over the table's window, as recorded in a card."""
    window = (table.earliest - table.landmark_day, table.latest - table.landmark_day)
    variables = [{"name": c, "label": c, "kind": "linear", "coefficient": 1.0,
                  "day_window": window, "aggregate": aggregate} for c in codes]
    return ScoreCard.model_validate({"id": "agree", "name": "agree",
                                     "landmark": table.landmark, "variables": variables})


def _assert_same_values(cohort: Cohort, landmark: str, aggregate: str,
                        window: tuple[float, float], codes: tuple[str, ...]) -> LandmarkTable:
    table = build_landmark_table(cohort, landmark, window=window, analytes=list(codes),
                                 aggregate=aggregate)  # type: ignore[arg-type]
    inputs = card_inputs(_card_for(table, codes, aggregate), cohort)
    data = table.data.set_index("patient_id")
    assert list(data.index) == list(inputs.values.index)
    for code in codes:
        np.testing.assert_array_equal(inputs.values[code].to_numpy(dtype=float),
                                      data[code].to_numpy(dtype=float), err_msg=code)
        np.testing.assert_array_equal(inputs.days[code].to_numpy(dtype=float),
                                      data[f"{code}_day"].to_numpy(dtype=float), err_msg=code)
        missing = set(inputs.missing.loc[inputs.missing["variable"] == code, "patient_id"])
        assert missing == set(data.index[data[code].isna()])
    return table


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 40), n=st.integers(3, 25), landmark=st.sampled_from(LANDMARKS),
       aggregate=st.sampled_from(AGGREGATES),
       window=st.tuples(st.floats(0, 3), st.floats(0, 3)),
       codes=st.lists(st.sampled_from(CODES), min_size=1, max_size=4, unique=True),
       in_mg_dl=st.sampled_from([0.0, 0.5, 1.0]), whole_days=st.booleans(),
       shuffle=st.one_of(st.none(), st.integers(0, 1000)))
def test_card_extractor_reads_what_the_landmark_table_reads(
        seed: int, n: int, landmark: str, aggregate: str, window: tuple[float, float],
        codes: list[str], in_mg_dl: float, whole_days: bool, shuffle: int | None) -> None:
    cohort = _variant(_simulated(seed, n), in_mg_dl=in_mg_dl, whole_days=whole_days,
                      shuffle=shuffle)
    _assert_same_values(cohort, landmark, aggregate, window, tuple(codes))


@pytest.mark.parametrize("aggregate", AGGREGATES)
@pytest.mark.parametrize("landmark", LANDMARKS)
def test_every_landmark_and_aggregate_agree_on_a_simulated_cohort(landmark: str,
                                                                 aggregate: str) -> None:
    cohort = _variant(_simulated(7, 40), in_mg_dl=0.5, whole_days=False, shuffle=3)
    table = _assert_same_values(cohort, landmark, aggregate, (1.0, 1.0), CODES)
    assert table.data[list(CODES)].notna().to_numpy().mean() > 0.5  # not an empty comparison


def test_the_aggregate_changes_the_value_read() -> None:
    """max, min, first, last and nearest are different rules over one window."""
    obs = pd.DataFrame({"patient_id": "A", "day": [6.2, 6.9, 7.4, 7.9],
                        "analyte": "crp", "value": [3.0, 1.0, 9.0, 2.0], "unit": "mg/L"})
    cohort = Cohort(pd.DataFrame({"patient_id": ["A"]}), obs)
    got = {agg: build_landmark_table(cohort, "day7", aggregate=agg).data.loc[0, "crp"]
           for agg in AGGREGATES}
    assert got == {"nearest": 1.0, "max": 9.0, "min": 1.0, "first": 3.0, "last": 2.0}
    table = build_landmark_table(cohort, "day7", aggregate="max")
    assert table.to_dict()["aggregate"] == "max" and "max of the window" in str(table)
    with pytest.raises(ValueError, match="'aggregate' parameter must be one of"):
        build_landmark_table(cohort, "day7", aggregate="mean")  # type: ignore[arg-type]


def test_both_refuse_the_same_bad_rows_naming_them() -> None:
    """One conversion home: a bad day, a text value and an unknown unit (even outside the
    window) are refused by both callers with the same located problems."""
    from crsscore.errors import DataError

    obs = pd.DataFrame([("A", 7.0, "crp", 5.0, "mg/L"), ("A", "x", "crp", 1.0, "mg/L"),
                        ("A", 7.2, "crp", "lots", "mg/L"), ("A", 12.0, "crp", 3.0, "furlongs")],
                       columns=["patient_id", "day", "analyte", "value", "unit"])
    cohort = Cohort(pd.DataFrame({"patient_id": ["A"]}), obs)
    with pytest.raises(DataError) as from_table:
        build_landmark_table(cohort, "day7")
    table = build_landmark_table(Cohort(cohort.patients, obs.iloc[:1]), "day7")
    with pytest.raises(DataError) as from_card:
        card_inputs(_card_for(table, ("crp",), "nearest"), cohort)
    assert str(from_table.value) == str(from_card.value)
    text = str(from_table.value)
    for where in ("observations row 1, column 'day'", "observations row 2, column 'value'",
                  "observations row 3, column 'unit'"):
        assert where in text
