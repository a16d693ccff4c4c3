"""The one evaluator of a score card: its three callers agree, and units do not matter.

Batch scoring (``score_frame``), cohort scoring (``score_cohort``) and the service calculator
(``score_batch``/``score_patient``) are given the same patients; their totals, points, bands,
risk groups and refusals (which value, which rule, what was expected) must be the same.  A
value typed in another unit (the exact decimal a lab in that unit reports) must get the points
of the value in the card's unit, on a cut-off too.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crsscore.data.cohort import Cohort
from crsscore.data.schema import ANALYTES
from crsscore.errors import CardInputError, DataError, ScoreCardError
from crsscore.scores.builtin import get_builtin
from crsscore.scores.cohort_inputs import resolve_landmark_day, score_cohort
from crsscore.scores.evaluate import score_frame
from crsscore.scores.scorecard import ScoreCard, Variable
from crsscore.service.inputs import BatchInput, InputError, score_batch, score_patient
from crsscore.units import ANALYTE_UNITS, canonical_unit, convert

CARDS = ["easix", "m-easix", "s-easix-log2", "car-hematotox", "hay2017", "easix-preld-4.67"]


def _cuts(var: Variable) -> list[float]:
    """The card's own numbers for ``var`` (cut-offs, threshold, range ends), in card units."""
    out = [b for band in var.bands for b in (band.lower, band.upper) if b is not None]
    if var.transform == "log10":
        out = [10.0 ** b for b in out]
    elif var.transform == "log2":
        out = [2.0 ** b for b in out]
    elif var.transform == "ln":
        out = [float(np.exp(b)) for b in out]
    out += [var.threshold] if var.threshold is not None else []
    out += list(var.plausible_range or ())
    return out


@st.composite
def patients(draw: st.DrawFn) -> tuple[ScoreCard, list[dict[str, float | None]]]:
    """A card and 1-4 patients, each variable's value in its canonical unit (or missing):
    a physiologically possible number, 0, or one of the card's cut-offs."""
    card = get_builtin(draw(st.sampled_from(CARDS)))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row: dict[str, float | None] = {}
        for var in card.variables:
            a = ANALYTES[var.analyte_code]
            cuts = [float(convert(c, var.unit_kind, var.unit)[()]) for c in _cuts(var)
                    if a.low <= float(convert(c, var.unit_kind, var.unit)[()]) <= a.high]
            row[var.name] = draw(st.one_of(
                st.none(), st.just(0.0), st.sampled_from(cuts) if cuts else st.just(a.low),
                st.floats(a.low, a.high)))
        rows.append(row)
    return card, rows


def _groups(col: pd.Series) -> list[str | None]:
    return [g if isinstance(g, str) else None for g in col]


def _by_frame(card: ScoreCard, rows: list[dict[str, float | None]]) -> dict[str, Any]:
    frame = pd.DataFrame([{k: np.nan if v is None else v for k, v in r.items()} for r in rows],
                         columns=card.input_names, dtype=np.float64)
    try:
        out = score_frame(card, frame)
    except CardInputError as exc:
        return {"problems": {(p.column, p.row, p.code, p.expected) for p in exc.problems}}
    return {"total": out["total"].to_numpy(), "risk_group": _groups(out["risk_group"]),
            "points": {v.name: out[f"pts_{v.name}"].to_numpy() for v in card.variables}}


def _by_cohort(card: ScoreCard, rows: list[dict[str, float | None]]) -> dict[str, Any]:
    landmark = resolve_landmark_day(card)
    obs, patient_of_row = [], []
    for i, r in enumerate(rows):
        for var in card.variables:
            if r[var.name] is not None:
                assert var.day_window is not None
                day = landmark + (var.day_window[0] + var.day_window[1]) / 2
                obs.append((f"P{i}", day, var.analyte_code, r[var.name],
                            canonical_unit(var.analyte_code)))
                patient_of_row.append(i)
    cohort = Cohort(pd.DataFrame({"patient_id": [f"P{i}" for i in range(len(rows))]}),
                    pd.DataFrame(obs, columns=["patient_id", "day", "analyte", "value", "unit"]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = score_cohort(card, cohort)
    except CardInputError as exc:
        # the cohort names the observations row: back to the patient it belongs to
        # a value is named by its observations row, the whole score by its patients row
        return {"problems": {(p.column, p.row if p.table == "patients" else
                              patient_of_row[p.row] if p.row is not None else None,
                              p.code, p.expected) for p in exc.problems}}
    return {"total": out["total"].to_numpy(), "risk_group": _groups(out["risk_group"])}


def _by_service(card: ScoreCard, rows: list[dict[str, float | None]]) -> dict[str, Any]:
    n = len(rows)
    batch = BatchInput(n, None, {v.name: [r[v.name] for r in rows] for v in card.variables},
                       {v.name: [canonical_unit(v.analyte_code)] * n for v in card.variables},
                       [False] * n)
    try:
        out = score_batch(card, batch)
    except InputError as exc:
        # the calculator names a problem of the whole score (no variable) with variable ""
        return {"problems": {(p.variable or None, p.row, p.code, p.expected)
                             for p in exc.problems}}
    return {"total": out["total"].to_numpy(), "risk_group": _groups(out["risk_group"]),
            "points": {v.name: out[f"pts_{v.name}"].to_numpy() for v in card.variables}}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients())
def test_batch_cohort_and_calculator_agree(case: tuple[ScoreCard, list[dict[str, float | None]]]
                                           ) -> None:
    card, rows = case
    frame, cohort, service = _by_frame(card, rows), _by_cohort(card, rows), _by_service(card, rows)
    if "problems" in frame:
        assert frame["problems"] == cohort.get("problems") == service.get("problems")
        return
    assert "problems" not in cohort and "problems" not in service
    np.testing.assert_array_equal(frame["total"], cohort["total"])
    np.testing.assert_array_equal(frame["total"], service["total"])
    assert frame["risk_group"] == cohort["risk_group"] == service["risk_group"]
    for name, pts in frame["points"].items():
        np.testing.assert_array_equal(pts, service["points"][name])
    # one patient at the calculator: the same points, and the band shown is the band that
    # gave them
    values = {k: (v, canonical_unit(card.variable(k).analyte_code))
              for k, v in rows[0].items() if v is not None}
    res = score_patient(card, values)
    assert res.total == (None if np.isnan(frame["total"][0]) else frame["total"][0])
    for v in res.variables:
        var = card.variable(v.name)
        own = frame["points"][v.name][0]
        # the calculator shows a factor that is not a finite number (NaN, or the inf of a
        # product card's 1/x at a subnormal x) as no number
        assert v.points == (None if not np.isfinite(own) else own)
        if var.kind == "bands" and v.band is not None:
            assert [b.points for b in var.bands if b.label == v.band] == [own]


def _exact(conv_scale: float, conv_offset: float) -> tuple[Fraction, Fraction]:
    """The conversion's exact intent (1/2.247 as 1000/2247, not the float nearest it)."""
    return (Fraction(conv_scale).limit_denominator(10**5),
            Fraction(conv_offset).limit_denominator(10**5))


def _decimal(x: Fraction, digits: int = 12) -> str | None:
    """``x`` as a decimal a lab would print, if it has one of at most ``digits`` digits."""
    d = Decimal(x.numerator) / Decimal(x.denominator)
    text = format(d.normalize(), "f")
    if Fraction(text) != x or len(text.replace("-", "").replace(".", "").lstrip("0")) > digits:
        return None
    return text


UNIT_VARIABLES = [(cid, v.name) for cid in CARDS for v in get_builtin(cid).variables
                  if v.unit_kind is not None]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(UNIT_VARIABLES), st.data())
def test_a_value_typed_in_another_unit_gets_the_same_points(which: tuple[str, str],
                                                            data: st.DataObject) -> None:
    card = get_builtin(which[0])
    var = card.variable(which[1])
    assert var.unit_kind is not None and var.unit is not None
    unit = data.draw(st.sampled_from(list(ANALYTE_UNITS[var.unit_kind])))
    lo, hi = var.plausible_range or (0.0, 1000.0)
    in_card = Fraction(data.draw(st.one_of(
        st.sampled_from([str(c) for c in _cuts(var)]),
        st.decimals(lo, hi, places=2, allow_nan=False).map(str))))
    # the same quantity in ``unit``, exactly (canonical = value * scale + offset)
    cs, co = _exact(ANALYTE_UNITS[var.unit_kind][var.unit].scale,
                    ANALYTE_UNITS[var.unit_kind][var.unit].offset)
    us, uo = _exact(ANALYTE_UNITS[var.unit_kind][unit].scale,
                    ANALYTE_UNITS[var.unit_kind][unit].offset)
    typed = _decimal(((in_card * cs + co) - uo) / us)
    assume(typed is not None)
    assert typed is not None
    others = {v.name: [np.nan] for v in card.variables}

    def points(value: str, u: str) -> tuple[float, float | None]:
        frame = pd.DataFrame({**others, var.name: [float(value)]})
        try:
            by_frame = float(score_frame(card, frame, units={var.name: u})[f"pts_{var.name}"][0])
        except (ScoreCardError, DataError) as exc:
            return (np.nan, str(type(exc)))  # refused: in every unit alike
        res = score_patient(card, {var.name: (value, u)})
        by_service = next(v.points for v in res.variables if v.name == var.name)
        return by_frame, by_service

    reference = points(str(float(in_card)), var.unit)
    got = points(typed, unit)
    assert got == reference or (np.isnan(got[0]) and np.isnan(reference[0])
                                and got[1] == reference[1])


def test_ferritin_cut_off_typed_in_pmol_per_litre() -> None:
    # 2,000 ug/L is 4,494 pmol/L; the float route gave 2000.0000000000002 (the next band)
    card = get_builtin("car-hematotox")
    base = {"plt": [100.0], "anc": [1.0], "hb": [10.0], "crp": [10.0]}
    in_ug = score_frame(card, pd.DataFrame({**base, "ferritin": [2000.0]}))
    in_pmol = score_frame(card, pd.DataFrame({**base, "ferritin": [4494.0]}),
                          units={"ferritin": "pmol/L"})
    assert in_pmol["pts_ferritin"][0] == in_ug["pts_ferritin"][0]
    res = score_patient(card, {"ferritin": (4494.0, "pmol/L")})
    assert next(v for v in res.variables if v.name == "ferritin").value_card_unit == 2000.0


@pytest.mark.parametrize("card_id", ["easix", "m-easix"])
def test_every_refusal_is_located(card_id: str) -> None:
    card = get_builtin(card_id)
    frame = pd.DataFrame({v.name: [1.0, 0.0, -1.0] if v.name == "plt" else [1.0, 1.0, 1.0]
                          for v in card.variables})
    with pytest.raises(CardInputError) as info:
        score_frame(card, frame)
    assert isinstance(info.value, ScoreCardError) and isinstance(info.value, DataError)
    got = [(p.table, p.row, p.column, p.value, p.expected) for p in info.value.problems]
    assert got == [("input", 1, "plt", "0 10^9/L", "> 0 10^9/L"),
                   ("input", 2, "plt", "-1 10^9/L", "0 to 2000 10^9/L")]
