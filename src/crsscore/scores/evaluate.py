"""Evaluate a score card on values: every rule of a card, in the one place all callers use.

Batch scoring (:func:`score_frame`), cohort scoring (``cohort_inputs.score_cohort``) and the
service's calculator all call :func:`evaluate_card`, which applies a card's rules to one array
of values per variable, in this order:

1. unit: each value's unit (canonical unless one is named) converted to the card's unit;
   a missing, unknown or ambiguous unit refuses the values given in it;
2. rounding (``round_to``, half up) of the card-unit value: every later rule sees that value;
3. checks, the first that fails refusing the value (one located problem per value):
   the physiologically possible range (only when asked: hand-entered values), the card's
   ``plausible_range``, a value greater than 0 where a logarithm or a divisor needs it, and a
   value of 0 or more for a product score;
4. band (or category, threshold, coefficient) lookup giving points; ``requires`` gates and
   the ``missing='zero'`` policy; the total, probability and risk group.

It returns per variable the rounded card-unit value, the band, the points, the located
:class:`~crsscore.errors.Problem` of every refused value (table, row, column, the value as
given with its unit, the expected unit or range) and warning masks: missing, in no band,
outside the derivation range, and whether tocilizumab distorts the variable.  Callers raise
the problems (:class:`~crsscore.errors.CardInputError`) or word them for their users; they
never re-check a value.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore._types import BoolArray, FloatArray
from crsscore.data.schema import ANALYTES, PATIENT_COLUMNS
from crsscore.errors import CardInputError, Problem, ScoreCardError, UnitError
from crsscore.scores.scorecard import ScoreCard, Variable
from crsscore.units import ANALYTE_UNITS, conversion_for, normalise_unit

#: Analytes whose values tocilizumab distorts (CRP falls, IL-6 rises) whatever the clinical course.
TOCILIZUMAB_SENSITIVE: Final = frozenset({"crp", "il6"})
#: Further analytes checked when a card sets ``uses_cytokines_after_tocilizumab_warning``.
CYTOKINES: Final = frozenset({"il6", "ifng", "il10", "mcp1"})
#: At most this many located problems are listed per variable (the count says the rest).
MAX_PROBLEMS: Final = 50

#: How the values of one variable were given: ``None`` in its canonical unit, a unit for the
#: whole column, or one unit per value (``None`` in it: no unit given with that value).
UnitSpec = str | Sequence[str | None] | None
#: Which wording problems get: ``"data"`` for located messages (batch and cohort scoring),
#: ``"calculator"`` for a clinician at the calculator, who sees each after the variable's label.
Wording = Literal["data", "calculator"]


def tocilizumab_sensitive(code: str | None, *, cytokines: bool = False) -> bool:
    """Whether tocilizumab distorts values of analyte ``code``: CRP and IL-6 always, the other
    cytokines when the card sets ``uses_cytokines_after_tocilizumab_warning`` (``cytokines``)."""
    return code in TOCILIZUMAB_SENSITIVE or (cytokines and code in CYTOKINES)


def variable_tocilizumab_sensitive(card: ScoreCard, var: Variable) -> bool:
    """:func:`tocilizumab_sensitive` for a card's variable (by its unit kind or analyte)."""
    return tocilizumab_sensitive(var.unit_kind or var.analyte_code,
                                 cytokines=card.uses_cytokines_after_tocilizumab_warning)


def physiological_range(var: Variable) -> tuple[float, float] | None:
    """Physiologically possible values in the *canonical* unit, if crsscore knows them."""
    col = PATIENT_COLUMNS.get(var.name)
    if var.source == "patient" and col is not None and col.low is not None and col.high is not None:
        return (float(col.low), float(col.high))
    for code in (var.unit_kind, var.name):
        if code is not None and code in ANALYTES:
            a = ANALYTES[code]
            return (a.low, a.high)
    return None


# --- arithmetic -------------------------------------------------------------------------------

def _transform(x: FloatArray, how: str) -> FloatArray:
    if how == "none":
        return x
    with np.errstate(divide="ignore", invalid="ignore"):
        if how == "log10":
            return np.log10(x)
        if how == "log2":
            return np.log2(x)
        return np.log(x)


def to_card_units(var: Variable, values: npt.ArrayLike, unit: str | None = None) -> FloatArray:
    """Convert values given in ``unit`` (default: canonical) to the card's unit for ``var``."""
    x = np.asarray(values, dtype=np.float64)
    if var.unit_kind is None or var.unit is None:
        return x
    src = unit if unit is not None else next(iter(ANALYTE_UNITS[var.unit_kind]))
    canon = conversion_for(var.unit_kind, src, column=var.name).apply(x)
    return conversion_for(var.unit_kind, var.unit, column=var.name).invert(canon)


def round_half_up(x: FloatArray, decimals: int) -> FloatArray:
    """Round half away from zero for positive values (38.85 -> 38.9), NaN kept.

    A relative tolerance of 1e-9 absorbs binary representation error (38.85 is stored as
    38.8499999...), so the result matches rounding the decimal number a clinician wrote.
    """
    f = 10.0 ** decimals
    scaled = x * f
    out: FloatArray = np.floor(scaled + 0.5 + 1e-9 * np.maximum(1.0, np.abs(scaled))) / f
    return out


def _conditions(var: Variable, x: npt.NDArray[Any]) -> list[BoolArray]:
    """Per band (category, threshold side: below, at or above), where a value falls in it."""
    if var.kind == "categorical":
        vals = np.asarray(x, dtype=object)
        return [vals == cat.value for cat in var.categories]
    xf = np.asarray(x, dtype=np.float64)
    if var.kind == "binary":
        above = xf >= float(var.threshold)  # type: ignore[arg-type]
        return [~above & ~np.isnan(xf), above]
    t = _transform(xf, var.transform)
    return [band.contains(t) for band in var.bands]


def _band_index(var: Variable, x: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Which band (category, threshold side: 0 below, 1 at or above) each value falls in, the
    first that contains it; -1 where none (or missing, or ``linear``)."""
    if var.kind == "linear":
        return np.full(len(x), -1, dtype=np.int64)
    conds = _conditions(var, x)
    out: npt.NDArray[np.int64] = np.select(conds, np.arange(len(conds), dtype=np.int64), -1)
    return out


def variable_points(var: Variable, x: FloatArray | npt.NDArray[np.object_]) -> FloatArray:
    """Points (or log-odds contribution for ``linear``) of one variable, NaN where missing
    or in no band: the points of the band :func:`_band_index` finds."""
    if var.kind == "linear":
        t = _transform(np.asarray(x, dtype=np.float64), var.transform)
        return np.asarray((var.coefficient or 0.0) * t, dtype=np.float64)
    table = ([c.points for c in var.categories] if var.kind == "categorical"
             else [0.0, var.threshold_points] if var.kind == "binary"
             else [b.points for b in var.bands])
    out: FloatArray = np.select(_conditions(var, x), np.asarray(table, dtype=np.float64), np.nan)
    return out


_INVERSE = {"none": lambda b: b, "log10": lambda b: 10.0 ** b, "log2": lambda b: 2.0 ** b,
            "ln": math.exp}


def band_text(var: Variable, k: int) -> str | None:
    """Band (category, threshold side) ``k`` of ``var`` as a clinician reads it: its label, or
    its bounds in the card's unit (">= 3 to < 10", "< 75"); None for -1 or ``linear``."""
    if k < 0 or var.kind == "linear":
        return None
    if var.kind == "categorical":
        cat = var.categories[k]
        return cat.label or cat.value
    if var.kind == "binary":
        return f"{'>=' if k == 1 else '<'} {_fmt(float(var.threshold or 0.0))}"
    band = var.bands[k]
    if band.label:
        return band.label
    inv = _INVERSE[var.transform]
    lo = None if band.lower is None else _fmt(float(inv(band.lower)))
    hi = None if band.upper is None else _fmt(float(inv(band.upper)))
    lo_text = None if lo is None else (">= " if band.lower_inclusive else "> ") + lo
    hi_text = None if hi is None else ("<= " if band.upper_inclusive else "< ") + hi
    if lo_text and hi_text:
        return f"{lo_text} to {hi_text}"
    return lo_text or hi_text or "any value"


def probability_from_total(card: ScoreCard, total: FloatArray) -> FloatArray:
    pm = card.probability
    if pm.kind == "logistic":
        # scipy (behind expit) costs ~0.4 s to import: only the cards that need it pay
        from crsscore._numeric import expit

        return expit(float(pm.intercept or 0.0) + float(pm.slope if pm.slope is not None else 1.0) * total)
    if pm.kind == "table" and pm.table:
        tab = dict(pm.table)
        return np.array([tab.get(float(t), math.nan) for t in total], dtype=np.float64)
    return np.full(total.shape, np.nan)


def risk_group_from_total(card: ScoreCard, total: FloatArray) -> npt.NDArray[np.object_]:
    out = np.full(total.shape, None, dtype=object)
    free = ~np.isnan(total)
    for g in card.risk_groups:
        hit = free.copy()
        if g.min_total is not None:
            hit &= total >= g.min_total
        if g.max_total is not None:
            hit &= total <= g.max_total
        out[hit] = g.name
        free &= ~hit  # the first group that matches wins
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _with_unit(text: str, unit: str | None) -> str:
    return f"{text} {unit}" if unit else text


# --- where values came from, and what evaluation found ------------------------------------------

@dataclass(frozen=True)
class Where:
    """Where one variable's values came from, so that a problem can point at them.

    ``rows`` holds the row of each value as its table numbers it (default: its position);
    ``column`` defaults to the variable's name.
    """

    table: str = "input"
    column: str | None = None
    rows: npt.NDArray[np.int64] | None = None

    def row(self, i: int) -> int:
        return int(self.rows[i]) if self.rows is not None else i


@dataclass(frozen=True)
class VariableEvaluation:
    """One variable of a card evaluated on ``n`` values.

    Attributes
    ----------
    variable
        The card's variable.
    value
        The card-unit value after rounding, the one every rule saw (object array of the
        category for a categorical variable); NaN (None) where missing or refused.
    points
        Points (the contribution to the linear predictor for ``linear``, the factor for a
        product score) after the ``requires`` gate and the ``missing`` policy; NaN where none.
    problems
        Located problems of the refused values (at most :data:`MAX_PROBLEMS`).
    refused, missing
        Masks: a value refused (see ``problems``); no value given.  :attr:`no_band` and
        :attr:`outside_training` are the other two warning masks.
    tocilizumab_sensitive
        Whether tocilizumab distorts this variable (a warning wherever it was given after it).
    """

    variable: Variable
    value: npt.NDArray[Any]
    points: FloatArray
    problems: list[Problem]
    refused: BoolArray
    missing: BoolArray
    tocilizumab_sensitive: bool

    @functools.cached_property
    def band(self) -> npt.NDArray[np.int64]:
        """Index of the band, category or threshold side (0 below, 1 at or above) that gave
        the points, -1 where none; :meth:`band_labels` words it."""
        if self.variable.kind == "linear":
            return np.full(len(self.points), -1, dtype=np.int64)
        return _band_index(self.variable, self.value)

    @property
    def no_band(self) -> BoolArray:
        """A value given and accepted that no band, category or threshold side covers
        (``linear`` and product terms have none to miss)."""
        if self.variable.kind == "linear":
            return np.zeros(self.band.shape, dtype=bool)
        out: BoolArray = (self.band < 0) & ~self.missing & ~self.refused
        return out

    @property
    def outside_training(self) -> BoolArray:
        """A value outside the card's ``training_range`` (the derivation data's)."""
        rng = self.variable.training_range
        if rng is None or self.variable.kind == "categorical":
            return np.zeros(self.band.shape, dtype=bool)
        x = np.asarray(self.value, dtype=np.float64)
        out: BoolArray = ~np.isnan(x) & ((x < rng[0]) | (x > rng[1]))
        return out

    def band_labels(self) -> npt.NDArray[np.object_]:
        """The band (category) of each value as a clinician reads it; None where none."""
        var = self.variable
        n_bands = (len(var.categories) if var.kind == "categorical" else 2 if var.kind == "binary"
                   else len(var.bands) if var.kind == "bands" else 0)
        texts = np.array([*(band_text(var, k) for k in range(n_bands)), None], dtype=object)
        out: npt.NDArray[np.object_] = texts[self.band]
        return out


@dataclass(frozen=True)
class CardEvaluation:
    """A card evaluated on ``n`` rows: each variable, the total, probability and risk group.

    ``problems`` lists every refused value (variable by variable) and every total that cannot
    be represented; rows with a problem have no total.
    """

    card: ScoreCard
    variables: dict[str, VariableEvaluation]
    total: FloatArray
    probability: FloatArray
    risk_group: npt.NDArray[np.object_]
    problems: list[Problem]

    def raise_problems(self) -> None:
        """Raise :class:`~crsscore.errors.CardInputError` with every problem, if any."""
        if self.problems:
            raise CardInputError(self.problems)

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """``pts_<name>`` per variable, ``total``, ``probability`` and ``risk_group``."""
        out = pd.DataFrame({f"pts_{name}": ev.points for name, ev in self.variables.items()},
                           index=index)
        out["total"] = self.total
        out["probability"] = self.probability
        # object dtype on purpose: pandas would otherwise copy a million group names into an
        # Arrow string array (a third of the time of scoring a million patients)
        out["risk_group"] = pd.Series(self.risk_group, index=out.index, dtype=object)
        return out


# --- the checks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Check:
    """One rule that refuses a value: its wording for located data and for the calculator."""

    data: str
    calculator: str


_PHYSIOLOGY = _Check("outside the physiologically possible range (a typing error or the wrong unit?)",
                     "outside the physiologically possible range (a typing error or the wrong unit?)")
_PLAUSIBLE = _Check("value outside the plausible range", "outside the range this score accepts")
_POSITIVE = _Check("{why} needs a positive value", "must be greater than 0 for this score")
_POSITIVE_PRODUCT = _Check("needs a positive value ({why})", "must be greater than 0 for this score")
_NON_NEGATIVE = _Check("a product score needs values >= 0", "must be 0 or more for this score")


def _needs_positive(card: ScoreCard, var: Variable) -> tuple[_Check, str] | None:
    """The check (and why) when ``var`` needs values greater than 0 in ``card``."""
    if var.transform != "none" and var.kind in ("bands", "linear"):
        return _POSITIVE, var.transform
    if card.kind == "product" and float(var.exponent or 0.0) < 0:
        return _POSITIVE_PRODUCT, "it divides the score"
    if card.kind == "product" and card.product_transform != "none":
        return _POSITIVE_PRODUCT, f"the score is {card.product_transform}-transformed"
    return None


class _Refuser:
    """Refuses values of one variable and lists them located, at most :data:`MAX_PROBLEMS`.

    ``given``/``shown`` are each value as given and its unit, for the problem's ``value``.
    """

    def __init__(self, var: Variable, where: Where, wording: Wording, given: FloatArray) -> None:
        self.where, self.wording, self.given = where, wording, given
        self.column = where.column or var.name
        self.refused = np.zeros(len(given), dtype=bool)
        self.shown: str | npt.NDArray[np.object_] | None = None
        self.problems: list[Problem] = []

    def refuse(self, bad: BoolArray, check: _Check, expected: str, **fill: str) -> None:
        """Refuse the values where ``bad`` (a mask over all values)."""
        hit = np.flatnonzero(bad)
        if not hit.size:
            return
        self.refused[hit] = True
        message = (check.data if self.wording == "data" else check.calculator).format(**fill)
        for i in hit[:max(0, MAX_PROBLEMS - len(self.problems))]:
            unit = self.shown if self.shown is None or isinstance(self.shown, str) \
                else self.shown[int(i)]
            self.problems.append(Problem(
                table=self.where.table, row=self.where.row(int(i)), column=self.column,
                message=message, value=_with_unit(f"{self.given[int(i)]:g}", unit),
                expected=expected, code="out_of_range"))

    def refuse_unit(self, problem: Problem, rows: BoolArray, *, per_row: bool) -> None:
        """Refuse every value given in a unit that does not convert (one problem for them)."""
        hit = np.flatnonzero(rows)
        self.refused[hit] = True
        row = self.where.row(int(hit[0])) if per_row and hit.size else None
        self.problems.append(replace(problem, table=self.where.table, row=row, column=self.column))


def _conversion(var: Variable, unit: str | None, given: bool) -> tuple[Any, str | None] | Problem:
    """The conversion of values given in ``unit`` to the canonical unit (None: none needed)
    and the unit shown with them; or the problem with that unit."""
    if var.unit_kind is not None:
        canon = next(iter(ANALYTE_UNITS[var.unit_kind]))
        try:
            conv = conversion_for(var.unit_kind, unit if given else canon, column=var.name)
        except UnitError as exc:
            return exc.problems[0]
        return conv, normalise_unit(str(unit)) if given else canon
    if given and unit is not None and unit.strip() != "" and (
            var.unit is None or normalise_unit(unit) != normalise_unit(var.unit)):
        return Problem(table="input", code="unknown_unit", value=unit,
                       message="unexpected unit", expected=var.unit or "no unit")
    return None, var.unit


def _unit_groups(spec: Sequence[str | None], present: BoolArray
                 ) -> list[tuple[str | None, BoolArray]]:
    """Masks of the present values by the unit given with them (None: no unit)."""
    if len(spec) <= 32:  # one patient: plain Python beats building pandas objects
        units = np.array([None if u is None else str(u) for u in spec], dtype=object)
        return [(u, present & (units == u) if u is not None else present & pd.isna(units))
                for u in dict.fromkeys(units[present].tolist())]
    codes, uniques = pd.factorize(pd.Series(list(spec), dtype=object), use_na_sentinel=True)
    groups = [(None if k < 0 else str(uniques[k]), present & (codes == k))
              for k in range(-1, len(uniques))]
    return [(u, rows) for u, rows in groups if rows.any()]


def _numeric(card: ScoreCard, var: Variable, x: FloatArray, spec: UnitSpec, refuser: _Refuser,
             physiology: bool) -> FloatArray:
    """The card-unit value, rounded; values refused are NaN (and listed by ``refuser``)."""
    n = len(x)
    present = ~np.isnan(x)
    per_row = spec is not None and not isinstance(spec, str)
    groups: list[tuple[str | None, BoolArray]]
    if per_row:
        assert spec is not None and not isinstance(spec, str)
        groups = _unit_groups(spec, present)
        shown = np.full(n, None, dtype=object)
        refuser.shown = shown
        cu = np.full(n, np.nan)
    else:
        groups = [(spec if isinstance(spec, str) else None, present)]
        cu = x
    card_conv = (conversion_for(var.unit_kind, var.unit, column=var.name)
                 if var.unit_kind is not None and var.unit is not None else None)
    phys = physiological_range(var) if physiology else None
    for unit, rows in groups:
        got = _conversion(var, unit, spec is not None)
        if isinstance(got, Problem):
            refuser.refuse_unit(got, rows, per_row=per_row)
            continue
        conv, unit_shown = got
        given = x[rows] if per_row else x
        if conv is None or card_conv is None or conv == card_conv:
            in_card = given  # given in the card's unit
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                in_card = card_conv.invert(conv.apply(given))  # each step snapped (units)
        if per_row:
            shown[rows] = unit_shown
            cu[rows] = in_card
        else:
            refuser.shown = unit_shown
            cu = in_card
        if phys is not None:
            lo, hi = phys
            c = conv.apply(x) if conv is not None else x
            lo_u, hi_u = ((float(v) for v in conv.invert(np.array([lo, hi])))
                          if conv is not None else (lo, hi))
            refuser.refuse(rows & ~((c >= lo) & (c <= hi)), _PHYSIOLOGY,
                           _with_unit(f"{_fmt(lo_u)} to {_fmt(hi_u)}", unit_shown))
    if var.round_to is not None:
        cu = round_half_up(cu, var.round_to)
    ok = present & ~refuser.refused if refuser.refused.any() else present
    if var.plausible_range is not None:
        lo, hi = var.plausible_range
        bad = ok & ~((cu >= lo) & (cu <= hi))
        refuser.refuse(bad, _PLAUSIBLE, _with_unit(f"{_fmt(lo)} to {_fmt(hi)}", var.unit))
        ok = ok & ~bad
    positive = _needs_positive(card, var)
    if positive is not None:
        rule, why = positive
        refuser.refuse(ok & ~(cu > 0), rule, _with_unit("> 0", var.unit), why=why)
    elif card.kind == "product":
        refuser.refuse(ok & (cu < 0), _NON_NEGATIVE, _with_unit(">= 0", var.unit))
    if refuser.refused.any():
        cu = np.where(refuser.refused, np.nan, cu)
    return cu


def evaluate_variable(card: ScoreCard, var: Variable, values: npt.ArrayLike, *,
                      unit: UnitSpec = None, where: Where | None = None,
                      physiology: bool = False, wording: Wording = "data",
                      gate: FloatArray | None = None) -> VariableEvaluation:
    """Apply ``var``'s rules to its values (float, NaN missing; categories: object, None missing).

    ``gate`` is the points of the variable named by ``var.requires`` (see :func:`evaluate_card`).
    """
    where = where or Where()
    if var.kind == "categorical":
        cats = np.asarray(values, dtype=object)
        n = len(cats)
        refuser = _Refuser(var, where, wording, np.full(n, np.nan))
        missing = np.asarray(pd.isna(cats), dtype=bool)
        value: npt.NDArray[Any] = cats.copy()
        value[missing] = None
        own = variable_points(var, value)
    else:
        x = np.asarray(values, dtype=np.float64)
        n = len(x)
        refuser = _Refuser(var, where, wording, x)
        value = _numeric(card, var, x, unit, refuser, physiology)
        missing = np.isnan(x)
        if card.kind == "product":
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                own = np.power(value, float(var.exponent))  # type: ignore[arg-type]
        else:
            own = variable_points(var, value)
    pts = own
    if gate is not None:
        pts = np.where(np.isnan(gate), np.nan, np.where(gate > 0, pts, 0.0))
    if var.missing == "zero":
        pts = np.where(np.isnan(pts), 0.0, pts)
    return VariableEvaluation(
        variable=var, value=value, points=pts,
        problems=sorted(refuser.problems, key=lambda p: -1 if p.row is None else p.row),
        refused=refuser.refused, missing=missing,
        tocilizumab_sensitive=variable_tocilizumab_sensitive(card, var))


def evaluate_card(card: ScoreCard, values: Mapping[str, Sequence[Any] | npt.NDArray[Any]], *,
                  units: Mapping[str, UnitSpec] | None = None,
                  where: Mapping[str, Where] | None = None,
                  physiology: bool = False, wording: Wording = "data") -> CardEvaluation:
    """Evaluate ``card`` on one array of values per variable (all of one length).

    Parameters
    ----------
    values
        Per variable name: floats (NaN where missing) or, for a categorical variable,
        categories (None where missing).  A variable not given is missing everywhere.
    units
        Per variable: see :data:`UnitSpec`; a variable not named is in its canonical unit.
    where
        Per variable: where its values came from (:class:`Where`); default table ``input``,
        row = position, column = the variable's name.
    physiology
        Also refuse values outside the physiologically possible range (for values typed by
        hand; a cohort's loader has already decided on those).
    wording
        :data:`Wording` of the problems.
    """
    units = units or {}
    where = where or {}
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        raise ValueError(f"values of score card '{card.id}' differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    evaluated: dict[str, VariableEvaluation] = {}
    problems: list[Problem] = []
    total = np.zeros(n) if card.kind == "points" else np.ones(n)
    log2_total = np.zeros(n)  # product cards: the same product in log space (no under/overflow)
    refused = np.zeros(n, dtype=bool)
    for var in card.variables:
        raw = values.get(var.name)
        if raw is None:
            raw = np.full(n, None, dtype=object) if var.kind == "categorical" else np.full(n, np.nan)
        gate = evaluated[var.requires].points if var.requires is not None else None
        ev = evaluate_variable(card, var, raw, unit=units.get(var.name),
                               where=where.get(var.name), physiology=physiology,
                               wording=wording, gate=gate)
        evaluated[var.name] = ev
        problems.extend(ev.problems)
        refused |= ev.refused
        if card.kind == "product":
            x = ev.value
            expo = float(var.exponent)  # type: ignore[arg-type]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                safe = np.where(x > 0, x, 1.0)
                log2_total += np.where(np.isnan(x), np.nan,
                                       np.where(x > 0, expo * np.log2(safe), -np.inf))
        with np.errstate(invalid="ignore", over="ignore"):  # product: see _finish_product
            total = total + ev.points if card.kind == "points" else total * ev.points
    if card.kind == "product":
        total, too_large = _finish_product(card, total, log2_total)
        for i in np.flatnonzero(too_large & ~refused)[:MAX_PROBLEMS]:
            problems.append(Problem(table="input", row=int(i), column=None, code="out_of_range",
                                    message=f"score '{card.id}' is too large to represent; "
                                            "check the inputs' units"))
    elif any(v.kind == "linear" for v in card.variables):
        total = total + card.intercept
    return CardEvaluation(card=card, variables=evaluated, total=total,
                          probability=probability_from_total(card, total),
                          risk_group=risk_group_from_total(card, total), problems=problems)


def _finish_product(card: ScoreCard, direct: FloatArray, log2_total: FloatArray
                    ) -> tuple[FloatArray, BoolArray]:
    """The product score, transformed, and where it is too large to represent.

    The plain product keeps published cut-offs exact (467 x 1 / 100 is 4.67, not
    4.670000000000001); when it under- or overflows (tiny or huge inputs), the log-space sum
    gives the log-transformed score, and an untransformed score too large for a float is
    refused rather than returned as infinity.
    """
    exact = np.isfinite(direct) & ((direct > 0) | np.isneginf(log2_total))
    if card.product_transform == "none":
        with np.errstate(over="ignore"):
            raw = np.where(exact, direct, np.exp2(log2_total))
        return raw, np.isinf(raw)
    with np.errstate(divide="ignore", invalid="ignore"):
        from_direct = _transform(direct, card.product_transform)
    scale = {"log2": 1.0, "log10": math.log10(2.0), "ln": math.log(2.0)}[card.product_transform]
    return (np.where(exact & (direct > 0), from_direct, log2_total * scale),
            np.zeros(direct.shape, dtype=bool))


# --- batch scoring of a frame -------------------------------------------------------------------

def score_frame(card: ScoreCard, data: pd.DataFrame, *, units: dict[str, str] | None = None,
                on_missing: Literal["nan", "error"] = "nan") -> pd.DataFrame:
    """Score every row of ``data`` (one row per patient; one column per card variable).

    Numeric columns are taken to be in canonical units unless ``units`` names another unit
    for a column.  Returns one column of points per variable (``pts_<name>``), ``total``,
    ``probability`` (NaN when the card has none) and ``risk_group``.  Rows with a missing
    input get NaN totals (or raise, with ``on_missing='error'``) unless the variable's
    ``missing`` policy is ``zero``; values that are not numbers, in a unit that does not
    convert, outside a variable's plausible range or not positive where the card needs it
    raise :class:`~crsscore.errors.CardInputError` (a :class:`ScoreCardError`) listing each
    by row and column.
    """
    units = units or {}
    missing_cols = [v.name for v in card.variables if v.name not in data.columns]
    if missing_cols:
        raise ScoreCardError(
            f"score card '{card.id}' needs column(s) {', '.join(missing_cols)}; "
            f"got {', '.join(map(str, data.columns)) or 'none'}")
    problems: list[Problem] = []
    values: dict[str, npt.NDArray[Any]] = {}
    for var in card.variables:
        col = data[var.name]
        if var.kind == "categorical":
            values[var.name] = col.astype(object).where(col.notna(), None).to_numpy()
            continue
        try:
            values[var.name] = pd.to_numeric(col, errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan)
        except (ValueError, TypeError):
            num = pd.to_numeric(col, errors="coerce")
            bad = (num.isna() & col.notna()).to_numpy()
            for i in np.flatnonzero(bad)[:MAX_PROBLEMS]:
                problems.append(Problem(table="input", row=int(i), column=var.name,
                                        message=f"not a number ({col.iloc[i]!r})",
                                        code="not_numeric"))
            values[var.name] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    if problems:
        raise CardInputError(problems)
    ev = evaluate_card(card, values, units={k: v for k, v in units.items() if k in values})
    ev.raise_problems()
    if on_missing == "error":
        for var in card.variables:
            pts = ev.variables[var.name].points
            if np.isnan(pts).any():
                i = int(np.flatnonzero(np.isnan(pts))[0])
                problems.append(Problem(table="input", row=i, column=var.name, code="missing",
                                        message="missing value, or no band covers it"))
    if problems:
        raise CardInputError(problems)
    return ev.to_frame(index=data.index)


__all__ = [
    "CYTOKINES", "MAX_PROBLEMS", "TOCILIZUMAB_SENSITIVE", "CardEvaluation", "UnitSpec",
    "VariableEvaluation", "Where", "Wording", "band_text", "evaluate_card", "evaluate_variable",
    "physiological_range", "probability_from_total", "risk_group_from_total", "round_half_up",
    "score_frame", "to_card_units", "tocilizumab_sensitive", "variable_points",
    "variable_tocilizumab_sensitive",
]
