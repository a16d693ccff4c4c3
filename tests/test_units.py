"""Units: every accepted unit converts to the canonical one and back; bad units are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import UnitError
from crsscore.units import (
    AMBIGUOUS,
    ANALYTE_UNITS,
    Quantity,
    canonical_unit,
    conversion_for,
    conversion_table,
    convert,
    normalise_unit,
)

ALL_UNITS = [(a, u) for a, units in ANALYTE_UNITS.items() for u in units]


@pytest.mark.parametrize(("analyte", "unit"), ALL_UNITS)
def test_round_trip_every_accepted_unit(analyte: str, unit: str) -> None:
    values = np.array([0.0, 0.5, 1.0, 7.25, 123.4, 98765.0])
    canonical = convert(values, analyte, unit)
    back = convert(canonical, analyte, canonical_unit(analyte), to=unit)
    np.testing.assert_allclose(back, values, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("analyte", "unit"), ALL_UNITS)
@settings(max_examples=25, deadline=None)
@given(value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_round_trip_any_value(analyte: str, unit: str, value: float) -> None:
    there = float(convert(value, analyte, unit)[()])
    back = float(convert(there, analyte, canonical_unit(analyte), to=unit)[()])
    assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize(("analyte", "unit", "value", "expected"), [
    # independent textbook values, not read from the table under test
    ("crp", "mg/dL", 5.0, 50.0),
    ("hb", "g/L", 102.0, 10.2),
    ("hb", "mmol/L", 6.2, 6.2 * 1.611),
    ("creatinine", "umol/L", 88.42, 1.0),
    ("creatinine", "mg/L", 10.0, 1.0),
    ("anc", "cells/uL", 1500.0, 1.5),
    ("temp", "F", 98.6, 37.0),
    ("temp", "F", 32.0, 0.0),
    ("sbp", "kPa", 16.0, 120.01),
    ("il6", "ng/mL", 0.05, 50.0),
    ("ferritin", "pmol/L", 2247.0, 1000.0),
    ("ldh", "ukat/L", 4.0, 240.0),
    ("fibrinogen", "mg/dL", 300.0, 3.0),
    ("ddimer", "ng/mL FEU", 500.0, 0.5),
    ("albumin", "g/dL", 3.5, 35.0),
    ("mrd", "fraction", 0.052, 5.2),
])
def test_known_conversions(analyte: str, unit: str, value: float, expected: float) -> None:
    assert float(convert(value, analyte, unit)[()]) == pytest.approx(expected, rel=1e-4)


def test_conversion_table_lists_every_unit_once() -> None:
    table = conversion_table()
    assert {(r["analyte"], r["unit"]) for r in table} == set(ALL_UNITS)
    assert len(table) == len(ALL_UNITS)
    for row in table:
        if row["unit"] == row["canonical_unit"]:
            assert (row["scale"], row["offset"]) == (1.0, 0.0)


@pytest.mark.parametrize(("analyte", "unit"), sorted(AMBIGUOUS))
def test_ambiguous_units_are_refused_naming_the_column(analyte: str, unit: str) -> None:
    with pytest.raises(UnitError, match=r"column 'Spalte X'.*ambiguous") as info:
        conversion_for(analyte, unit, column="Spalte X", table="labs", row=7)
    problem = info.value.problems[0]
    assert (problem.table, problem.row, problem.column, problem.code) == (
        "labs", 7, "Spalte X", "ambiguous_unit")


@pytest.mark.parametrize(("analyte", "unit"), [
    ("crp", "mg/100"), ("hb", "mg/dL"), ("creatinine", "mmol/mol"), ("anc", "%"),
    ("temp", "K"), ("il6", "IU/mL"),
])
def test_unknown_units_are_refused_naming_the_column(analyte: str, unit: str) -> None:
    with pytest.raises(UnitError, match=rf"column 'lab_{analyte}'.*not convertible") as info:
        conversion_for(analyte, unit, column=f"lab_{analyte}")
    assert info.value.problems[0].value == unit
    assert canonical_unit(analyte) in (info.value.problems[0].expected or "")


@pytest.mark.parametrize("unit", [None, "", "   ", float("nan")])
def test_missing_unit_is_refused(unit: object) -> None:
    with pytest.raises(UnitError, match=r"column 'CRP'.*no unit given"):
        conversion_for("crp", unit, column="CRP")


def test_unknown_analyte_is_refused() -> None:
    with pytest.raises(UnitError, match="unknown analyte code 'sodium'"):
        canonical_unit("sodium")


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("µmol/l", "umol/L"), ("μmol/L", "umol/L"), ("x10^9/L", "10^9/L"), ("G/L", "10^9/L"),
    ("g/l", "g/L"), ("Gpt/l", "10^9/L"), ("mg / dl", "mg/dL"), ("°C", "C"), ("10⁹/L", "10^9/L"),
    ("K/uL", "10^3/uL"), ("pct", "%"),
])
def test_normalise_unit_spellings(spelling: str, canonical: str) -> None:
    assert normalise_unit(spelling) == canonical


def test_quantity_converts_and_prints() -> None:
    q = Quantity(5.0, "mg/dL", "crp").to()
    assert (q.value, q.unit, str(q)) == (50.0, "mg/L", "50 mg/L")


def test_a_value_changing_unit_is_the_same_number_in_every_unit() -> None:
    """The one rescaling (units.rescale) snaps to 14 significant digits: 2,000 ug/L typed as
    4,494 pmol/L is 2000, not 2000.0000000000002, so a cut-off is decided alike in any unit."""
    import numpy as np

    from crsscore.units import conversion_for, rescale, snap_significant

    conv = conversion_for("ferritin", "pmol/L")
    assert float(np.asarray(4494.0) * conv.scale) != 2000.0  # the float error being removed
    assert float(conv.apply(4494.0)) == 2000.0
    assert float(conversion_for("crp", "mg/dL").invert(np.array(1.0))) == 0.1
    assert float(conversion_for("crp", "mg/L").apply(0.1)) == 0.1  # identity: untouched
    x = np.array([4494.0, 10.0, np.nan])
    out = rescale(x, np.array([conv.scale, 1.0, conv.scale]), 0.0)
    assert out[0] == 2000.0 and out[1] == 10.0 and np.isnan(out[2])
    kept = snap_significant(np.array([0.0, np.inf, -np.inf, np.nan, 1e-300]))
    assert kept[0] == 0.0 and np.isposinf(kept[1]) and np.isneginf(kept[2]) and np.isnan(kept[3])
    assert kept[4] == 1e-300


def test_a_cohort_file_in_other_units_loads_to_the_same_numbers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from crsscore.data.io import load_cohort

    pd.DataFrame({"patient_id": ["P1"], "age_years": [30], "weight_kg": [70]}).to_csv(
        tmp_path / "patients.csv", index=False)
    pd.DataFrame({"patient_id": ["P1", "P1"], "day": [7.0, 7.0], "analyte": ["ferritin", "crp"],
                  "value": [4494.0, 0.1], "unit": ["pmol/L", "mg/dL"]}).to_csv(
        tmp_path / "observations.csv", index=False)
    pd.DataFrame({"patient_id": ["P1"], "day": [1.0], "event": ["hypotension"], "value": [""],
                  "unit": [""], "detail": [""]}).to_csv(tmp_path / "events.csv", index=False)
    obs = load_cohort(tmp_path).observations.set_index("analyte")["value"]
    assert obs["ferritin"] == 2000.0 and obs["crp"] == 1.0
