"""Score cards: a prognostic score as versioned, schema-validated data.

A score card is a JSON file that the derivation writes and the calculator, the API, batch
scoring and the comparison read.  It holds everything needed to compute the score on a new
patient, in units that travel with each variable, plus provenance and validation figures.

Two kinds of score are supported:

``points``
    Each variable maps a value to points through ordered bands (cut-points), or, for the
    continuous reference model, contributes ``coefficient * transform(value)`` to the linear
    predictor.  The total maps to a probability with ``expit(intercept + slope * total)``
    (or a stored table) and to risk groups.
``product``
    A formula ``prod(value_i ** exponent_i)``, optionally log-transformed (EASIX family).

Inputs to :func:`score_frame` are in each variable's *canonical* unit (the unit a landmark
table carries); the card converts them to its own unit before applying cut-points, so a
card written with CRP in mg/dL is never fed mg/L by mistake.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crsscore._numeric import expit
from crsscore.errors import Problem, ScoreCardError, UnitError
from crsscore.units import ANALYTE_UNITS, conversion_for, normalise_unit

SCHEMA_VERSION = "1.1"

Transform = Literal["none", "log10", "log2", "ln"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardFile(_Model):
    """A card stored as one JSON file: written atomically, read and validated with one message.

    Subclasses name what they are in ``_what`` (``"score card"``, ``"dynamic card"``).
    """

    _what: ClassVar[str] = "card"

    def to_json(self, path: str | Path | None = None) -> str:
        text = self.model_dump_json(indent=2)
        if path is not None:
            from crsscore.atomicio import write_text

            write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> Self:
        """Load and validate a card from a path or a JSON string."""
        text = str(source)
        p = Path(text) if len(text) < 4096 and not text.lstrip().startswith("{") else None
        try:
            raw = p.read_text(encoding="utf-8") if p is not None else text
        except OSError as exc:
            raise ScoreCardError(f"cannot read {cls._what} {text}: {exc.strerror}") from None
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise ScoreCardError(f"invalid {cls._what} ({loc}): {first['msg']}") from None


class Band(_Model):
    """A half-open interval of values and its points.

    ``lower``/``upper`` None mean unbounded.  The default ``[lower, upper)`` convention can be
    changed per band: published scores never define equality, so each card states it.
    """

    lower: float | None = None
    upper: float | None = None
    lower_inclusive: bool = True
    upper_inclusive: bool = False
    points: float
    label: str = ""

    def contains(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        ok = np.ones(x.shape, dtype=bool)
        if self.lower is not None:
            ok &= (x >= self.lower) if self.lower_inclusive else (x > self.lower)
        if self.upper is not None:
            ok &= (x <= self.upper) if self.upper_inclusive else (x < self.upper)
        return ok


class Category(_Model):
    value: str
    points: float
    label: str = ""


class Variable(_Model):
    """One input of a score.

    ``name`` is the canonical name of the input: a patients column (``mrd_baseline_pct``) or an
    analyte code (``crp``).  ``unit_kind`` selects the conversion table (an analyte code or
    ``mrd``); ``unit`` is the unit in which cut-points are written.  ``day_window`` and
    ``aggregate`` say how the value is taken from daily observations, relative to the landmark.

    Optional refinements (all default to "off"):

    ``analyte``
        The observations analyte code when it differs from ``name`` (two variables on the
        same analyte at different windows need different names).
    ``round_to``
        Decimals (in card units) to which the value is rounded, half up, before cut-points
        are applied: the resolution at which the published cut-off was read.  Hay's
        38.9 C cut-off with ``round_to=1`` makes 102.0 F (38.89 C) qualify.
    ``requires``
        Name of an earlier variable that must score more than 0 points for this one to
        count (a decision tree's "then"): where it scores 0 this variable contributes 0
        points even when missing; where it is missing, so is this one.
    """

    name: str
    label: str
    analyte: str | None = None
    kind: Literal["bands", "linear", "categorical", "binary"] = "bands"
    source: Literal["patient", "observation", "derived"] = "observation"
    unit: str | None = None
    unit_kind: str | None = None
    loinc: str | None = None
    day_window: tuple[float, float] | None = None
    aggregate: Literal["nearest", "max", "min", "first", "last"] = "nearest"
    transform: Transform = "none"
    bands: list[Band] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    coefficient: float | None = None
    exponent: float | None = None
    threshold: float | None = None  # kind "binary": points if value >= threshold
    threshold_points: float = 1.0
    plausible_range: tuple[float, float] | None = None  # error outside (in card units)
    training_range: tuple[float, float] | None = None  # warning outside (in card units)
    missing: Literal["error", "zero"] = "error"
    round_to: int | None = Field(default=None, ge=0, le=6)
    requires: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Variable:
        if self.unit_kind is not None:
            if self.unit_kind not in ANALYTE_UNITS:
                raise ValueError(f"variable {self.name}: unknown unit_kind {self.unit_kind!r}")
            if self.unit is None:
                raise ValueError(f"variable {self.name}: unit_kind given without unit")
            if normalise_unit(self.unit) not in ANALYTE_UNITS[self.unit_kind]:
                raise ValueError(f"variable {self.name}: unit {self.unit!r} not valid for {self.unit_kind}")
        if self.kind == "bands" and not self.bands:
            raise ValueError(f"variable {self.name}: kind 'bands' needs bands")
        if self.kind == "categorical" and not self.categories:
            raise ValueError(f"variable {self.name}: kind 'categorical' needs categories")
        if self.kind == "linear" and self.coefficient is None and self.exponent is None:
            raise ValueError(f"variable {self.name}: kind 'linear' needs a coefficient or exponent")
        if self.kind == "binary" and self.threshold is None:
            raise ValueError(f"variable {self.name}: kind 'binary' needs a threshold")
        if self.day_window is not None and self.day_window[0] > self.day_window[1]:
            raise ValueError(f"variable {self.name}: day_window {self.day_window} is reversed")
        return self

    @property
    def analyte_code(self) -> str:
        """The observations analyte this variable reads (``analyte`` or else ``name``)."""
        return self.analyte if self.analyte is not None else self.name


class RiskGroup(_Model):
    name: str
    min_total: float | None = None  # inclusive
    max_total: float | None = None  # inclusive
    observed_rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    events: int | None = None


class ProbabilityMap(_Model):
    """How the total maps to a probability.  ``kind='none'`` for scores without one."""

    kind: Literal["logistic", "table", "none"] = "none"
    intercept: float | None = None
    slope: float | None = None
    table: list[tuple[float, float]] = Field(default_factory=list)  # (total, probability)


class Provenance(_Model):
    software: str = "crsscore"
    software_version: str | None = None
    method: str = ""
    data_hash: str | None = None
    seed: int | None = None
    synthetic_data: bool = False
    citation: str | None = None
    doi: str | None = None
    verification: Literal["verified", "secondary_sources", "derived_locally", "refit",
                          "unverified"] = "derived_locally"
    notes: list[str] = Field(default_factory=list)


class Performance(_Model):
    n: int | None = None
    events: int | None = None
    auc_apparent: float | None = None
    auc_ci: tuple[float, float] | None = None
    auc_optimism_corrected: float | None = None
    calibration_slope_corrected: float | None = None
    brier: float | None = None
    bootstrap_B: int | None = None
    extra: dict[str, float] = Field(default_factory=dict)


class SampleSizeVerdict(_Model):
    """Whether the derivation cohort was large enough (Riley et al.), carried by the card.

    ``override`` is True when the card was written although the cohort fell below crsscore's
    floor (too few events, or far below Riley's minimum), by the user's explicit choice.
    """

    ok: bool
    message: str
    n: int
    events: int
    n_parameters: int
    required_n: int | None = None
    override: bool = False


class ScoreCard(CardFile):
    """A complete, self-describing score."""

    _what: ClassVar[str] = "score card"

    schema_version: str = SCHEMA_VERSION
    id: str
    name: str
    version: str = "1"
    description: str = ""
    kind: Literal["points", "product"] = "points"
    outcome: str = "severe CRS (ASTCT grade >= 3)"
    population: str = ""
    landmark: str | None = None  # named (schema.NAMED_LANDMARKS) or "day<n>", e.g. "day-1"
    timepoint: str = ""  # when the score is measured, in words (windows: Variable.day_window)
    variables: list[Variable]
    intercept: float = 0.0  # linear predictor offset (kind linear variables)
    product_transform: Transform = "none"
    probability: ProbabilityMap = Field(default_factory=ProbabilityMap)
    risk_groups: list[RiskGroup] = Field(default_factory=list)
    #: A yes/no rule (a published cut-off or decision tree): its last risk group is "yes",
    #: the other one "no".  Comparisons evaluate it as the binary classification it is (AUC of
    #: the yes/no call, sensitivity, specificity), not by the total behind it.
    binary_rule: bool = False
    uses_cytokines_after_tocilizumab_warning: bool = False
    provenance: Provenance = Field(default_factory=Provenance)
    performance: Performance = Field(default_factory=Performance)
    sample_size: SampleSizeVerdict | None = None

    @model_validator(mode="after")
    def _check(self) -> ScoreCard:
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise ValueError("variable names must be unique")
        if not self.variables:
            raise ValueError("a score card needs at least one variable")
        if self.binary_rule and len(self.risk_groups) != 2:
            raise ValueError("a binary rule needs exactly two risk groups (no, then yes)")
        if self.kind == "product" and any(v.exponent is None for v in self.variables):
            raise ValueError("kind 'product' needs an exponent for every variable")
        for i, v in enumerate(self.variables):
            if v.requires is None:
                continue
            if self.kind == "product":
                raise ValueError(f"variable {v.name}: 'requires' is not allowed in a product score")
            if v.requires not in names[:i]:
                raise ValueError(f"variable {v.name}: requires {v.requires!r}, which must be "
                                 "an earlier variable of the card")
        return self

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


def _transform(x: npt.NDArray[np.float64], how: str) -> npt.NDArray[np.float64]:
    if how == "none":
        return x
    with np.errstate(divide="ignore", invalid="ignore"):
        if how == "log10":
            return np.log10(x)
        if how == "log2":
            return np.log2(x)
        return np.log(x)


def to_card_units(var: Variable, values: npt.ArrayLike, unit: str | None = None) -> npt.NDArray[np.float64]:
    """Convert values given in ``unit`` (default: canonical) to the card's unit for ``var``."""
    x = np.asarray(values, dtype=np.float64)
    if var.unit_kind is None or var.unit is None:
        return x
    src = unit if unit is not None else next(iter(ANALYTE_UNITS[var.unit_kind]))
    canon = conversion_for(var.unit_kind, src, column=var.name).apply(x)
    return conversion_for(var.unit_kind, var.unit, column=var.name).invert(canon)


def round_half_up(x: npt.NDArray[np.float64], decimals: int) -> npt.NDArray[np.float64]:
    """Round half away from zero for positive values (38.85 -> 38.9), NaN kept.

    A relative tolerance of 1e-9 absorbs binary representation error (38.85 is stored as
    38.8499999...), so the result matches rounding the decimal number a clinician wrote.
    """
    f = 10.0 ** decimals
    scaled = x * f
    out: npt.NDArray[np.float64] = np.floor(scaled + 0.5 + 1e-9 * np.maximum(1.0, np.abs(scaled))) / f
    return out


def variable_points(var: Variable, x: npt.NDArray[np.float64] | npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    """Points (or log-odds contribution for ``linear``) of one variable, NaN where missing."""
    if var.kind == "categorical":
        vals = np.asarray(x, dtype=object)
        out = np.full(vals.shape, np.nan)
        for cat in var.categories:
            out[vals == cat.value] = cat.points
        return out
    xf = np.asarray(x, dtype=np.float64)
    if var.kind == "linear":
        t = _transform(xf, var.transform)
        return np.asarray((var.coefficient or 0.0) * t, dtype=np.float64)
    if var.kind == "binary":
        thr = float(var.threshold)  # type: ignore[arg-type]
        out = np.where(xf >= thr, var.threshold_points, 0.0)
        return np.where(np.isnan(xf), np.nan, out)
    t = _transform(xf, var.transform) if var.transform != "none" else xf
    out = np.full(xf.shape, np.nan)
    for band in var.bands:
        hit = band.contains(t) & np.isnan(out)
        out[hit] = band.points
    return out


def score_frame(card: ScoreCard, data: pd.DataFrame, *, units: dict[str, str] | None = None,
                on_missing: Literal["nan", "error"] = "nan") -> pd.DataFrame:
    """Score every row of ``data`` (one row per patient; one column per card variable).

    Numeric columns are taken to be in canonical units unless ``units`` names another unit
    for a column.  Returns one column of points per variable (``pts_<name>``), ``total``,
    ``probability`` (NaN when the card has none) and ``risk_group``.  Rows with a missing
    input get NaN totals (or raise, with ``on_missing='error'``) unless the variable's
    ``missing`` policy is ``zero``; values outside a variable's plausible range raise
    :class:`ScoreCardError` naming the row and column.
    """
    units = units or {}
    missing_cols = [v.name for v in card.variables if v.name not in data.columns]
    if missing_cols:
        raise ScoreCardError(
            f"score card '{card.id}' needs column(s) {', '.join(missing_cols)}; "
            f"got {', '.join(map(str, data.columns)) or 'none'}")
    n = len(data)
    out = pd.DataFrame(index=data.index)
    problems: list[Problem] = []
    total = np.zeros(n) if card.kind == "points" else np.ones(n)
    log2_total = np.zeros(n)  # product cards: the same product in log space (no under/overflow)
    for var in card.variables:
        col = data[var.name]
        if var.kind == "categorical":
            raw: npt.NDArray[Any] = col.astype(object).where(col.notna(), None).to_numpy()
            pts = variable_points(var, raw)
        else:
            try:
                xnum = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
            except (ValueError, TypeError):
                bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ScoreCardError(f"row {data.index[i]}, column '{var.name}': not a number "
                                     f"({col.iloc[i]!r})") from None
            try:
                x = to_card_units(var, xnum, units.get(var.name))
            except UnitError as exc:
                raise ScoreCardError(str(exc)) from None
            if var.round_to is not None:
                x = round_half_up(x, var.round_to)
            if var.plausible_range is not None:
                lo, hi = var.plausible_range
                bad_idx = np.flatnonzero(~np.isnan(x) & ((x < lo) | (x > hi)))
                for i in bad_idx[:20]:
                    problems.append(Problem(table="input", row=int(i), column=var.name,
                                            message="value outside the plausible range",
                                            value=f"{x[i]:g} {var.unit or ''}".strip(),
                                            expected=f"{lo:g} to {hi:g} {var.unit or ''}".strip(),
                                            code="out_of_range"))
            if var.transform != "none" and var.kind in ("bands", "linear"):
                nonpos = np.flatnonzero(~np.isnan(x) & (x <= 0))
                for i in nonpos[:20]:
                    problems.append(Problem(table="input", row=int(i), column=var.name,
                                            message=f"{var.transform} needs a positive value",
                                            value=f"{x[i]:g}", expected="> 0", code="out_of_range"))
            if card.kind == "product" and (float(var.exponent or 0.0) < 0
                                           or card.product_transform != "none"):
                nonpos = np.flatnonzero(~np.isnan(x) & (x <= 0))
                why = ("it divides the score" if float(var.exponent or 0.0) < 0
                       else f"the score is {card.product_transform}-transformed")
                for i in nonpos[:20]:
                    problems.append(Problem(table="input", row=int(i), column=var.name,
                                            message=f"needs a positive value ({why})",
                                            value=f"{x[i]:g} {var.unit or ''}".strip(),
                                            expected="> 0", code="out_of_range"))
            if card.kind == "product":
                expo = float(var.exponent)  # type: ignore[arg-type]
                for i in np.flatnonzero(~np.isnan(x) & (x < 0))[:20]:
                    problems.append(Problem(table="input", row=int(i), column=var.name,
                                            message="a product score needs values >= 0",
                                            value=f"{x[i]:g} {var.unit or ''}".strip(),
                                            expected=">= 0", code="out_of_range"))
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    pts = np.power(x, expo)
                    safe = np.where(x > 0, x, 1.0)
                    log2_total += np.where(np.isnan(x), np.nan,
                                           np.where(x > 0, expo * np.log2(safe), -np.inf))
            else:
                pts = variable_points(var, x)
        if var.requires is not None:
            gate = out[f"pts_{var.requires}"].to_numpy(dtype=np.float64)
            pts = np.where(np.isnan(gate), np.nan, np.where(gate > 0, pts, 0.0))
        if var.missing == "zero":
            pts = np.where(np.isnan(pts), 0.0, pts)
        elif on_missing == "error" and np.isnan(pts).any():
            i = int(np.flatnonzero(np.isnan(pts))[0])
            problems.append(Problem(table="input", row=i, column=var.name,
                                    message="missing value, or no band covers it", code="missing"))
        out[f"pts_{var.name}"] = pts
        with np.errstate(invalid="ignore", over="ignore"):  # product: see _finish_product
            total = total + pts if card.kind == "points" else total * pts
    if problems:
        raise ScoreCardError("\n".join(str(p) for p in problems))
    if card.kind == "product":
        total = _finish_product(card, total, log2_total)
    else:
        total = total + card.intercept if any(v.kind == "linear" for v in card.variables) else total
    out["total"] = total
    out["probability"] = probability_from_total(card, total)
    # object dtype on purpose: pandas would otherwise copy a million group names into an
    # Arrow string array (a third of the time of scoring a million patients)
    out["risk_group"] = pd.Series(risk_group_from_total(card, total), index=out.index, dtype=object)
    return out


def _finish_product(card: ScoreCard, direct: npt.NDArray[np.float64],
                    log2_total: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The product score, transformed; exact products where representable, else from logs.

    The plain product keeps published cut-offs exact (467 x 1 / 100 is 4.67, not
    4.670000000000001); when it under- or overflows (tiny or huge inputs), the log-space sum
    gives the log-transformed score, and an untransformed score too large for a float is
    refused rather than returned as infinity.
    """
    exact = np.isfinite(direct) & ((direct > 0) | np.isneginf(log2_total))
    if card.product_transform == "none":
        with np.errstate(over="ignore"):
            raw = np.where(exact, direct, np.exp2(log2_total))
        bad = np.flatnonzero(np.isinf(raw))
        if len(bad):
            raise ScoreCardError("\n".join(
                str(Problem(table="input", row=int(i), column=None, code="out_of_range",
                            message=f"score '{card.id}' is too large to represent; check the "
                                    "inputs' units")) for i in bad[:20]))
        return raw
    with np.errstate(divide="ignore", invalid="ignore"):
        from_direct = _transform(direct, card.product_transform)
    scale = {"log2": 1.0, "log10": math.log10(2.0), "ln": math.log(2.0)}[card.product_transform]
    return np.where(exact & (direct > 0), from_direct, log2_total * scale)


def probability_from_total(card: ScoreCard, total: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    pm = card.probability
    if pm.kind == "logistic":
        return expit(float(pm.intercept or 0.0) + float(pm.slope if pm.slope is not None else 1.0) * total)
    if pm.kind == "table" and pm.table:
        tab = dict(pm.table)
        return np.array([tab.get(float(t), math.nan) for t in total], dtype=np.float64)
    return np.full(total.shape, np.nan)


def risk_group_from_total(card: ScoreCard, total: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
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


def load_scorecard(path: str | Path) -> ScoreCard:
    return ScoreCard.from_json(path)


def scorecard_json_schema() -> dict[str, Any]:
    return ScoreCard.model_json_schema()


__all__ = [
    "SCHEMA_VERSION", "Band", "Category", "Performance", "ProbabilityMap", "Provenance",
    "RiskGroup", "SampleSizeVerdict", "ScoreCard", "Variable", "load_scorecard", "round_half_up", "score_frame",
    "scorecard_json_schema", "to_card_units", "variable_points",
]

