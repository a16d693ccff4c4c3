"""From a cohort to a score's inputs, and from inputs to scores.

:func:`card_inputs` builds one row per patient holding each card variable's value in its
canonical unit, taken from ``cohort.observations`` by the variable's day window and aggregate
(or from ``cohort.patients`` for patient-level variables), and records for every patient and
variable why a value is missing.  :func:`score_cohort` scores every patient with
:func:`~crsscore.scores.evaluate.evaluate_card` and adds per-patient warnings.  Patients
without a score's inputs are kept (total NaN) and counted, never dropped.

Values are read by the landmark table's rule (:mod:`crsscore.data.landmark`); what is
card-specific is which variables are read and over which window:

* Days are days since infusion.  A card's ``landmark`` gives the reference day, parsed by
  :func:`~crsscore.data.landmark.parse_landmark` (``"pre-ld"`` = day -5, ``"day0"``,
  ``"day-1"``, ``"day+1"``), None meaning day 0.  ``landmark_day=`` overrides it, e.g. to
  evaluate m-EASIX at day -1 with the same card.
* A variable's ``day_window = (lo, hi)`` is relative to the landmark and inclusive at both
  ends: observations with ``landmark + lo <= day <= landmark + hi`` qualify
  (:meth:`~crsscore.data.landmark.Landmark.over`).
* Its ``aggregate`` (``nearest``, ``max``, ``min``, ``first``, ``last``), the tie rules and the
  conversion of each row's ``unit`` to the canonical unit are those of
  :class:`~crsscore.data.landmark.Landmark` and
  :func:`~crsscore.data.landmark.canonical_observations`; a missing, unknown or ambiguous unit
  raises :class:`~crsscore.errors.UnitError`.

Examples
--------
>>> import warnings
>>> import pandas as pd
>>> from crsscore.data.cohort import Cohort
>>> from crsscore.scores.builtin import get_builtin
>>> obs = pd.DataFrame({"patient_id": ["P1"] * 3, "day": [-6.0] * 3,
...                     "analyte": ["ldh", "crp", "plt"], "value": [250.0, 5.0, 100.0],
...                     "unit": ["U/L", "mg/dL", "10^9/L"]})
>>> cohort = Cohort(pd.DataFrame({"patient_id": ["P1", "P2"]}), obs)
>>> card = get_builtin("m-easix")
>>> inputs = card_inputs(card, cohort)
>>> inputs.n_patients, inputs.n_complete
(2, 1)
>>> inputs.values["crp"].tolist()  # canonical mg/L
[50.0, nan]
>>> inputs.missing_counts().to_dict("records")[0]
{'variable': 'crp', 'reason': 'no_observations', 'n': 1}
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # "1 of 2 patient(s) not scored"
...     scores = score_cohort(card, cohort, inputs=inputs)
>>> scores[["patient_id", "total"]].to_dict("records")
[{'patient_id': 'P1', 'total': 12.5}, {'patient_id': 'P2', 'total': nan}]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.data.landmark import (
    Landmark,
    canonical_observations,
    parse_landmark,
    patient_index,
    read_values,
)
from crsscore.data.schema import ANALYTES, NAMED_LANDMARKS, PATIENT_COLUMNS
from crsscore.errors import (
    CardInputError,
    CrsscoreWarning,
    DataError,
    Problem,
    ScoreCardError,
    TocilizumabWarning,
)
from crsscore.scores.evaluate import (
    CYTOKINES,
    TOCILIZUMAB_SENSITIVE,
    Where,
    evaluate_card,
    tocilizumab_sensitive,
)
from crsscore.scores.scorecard import ScoreCard, Variable
from crsscore.units import ANALYTE_UNITS, canonical_unit

#: Reason codes in :attr:`CardInputs.missing`.
MISSING_REASONS: Final[dict[str, str]] = {
    "no_observations": "no observation of this analyte for the patient",
    "none_in_window": "observations exist, none inside the day window",
    "value_missing": "only blank values inside the window / blank patient value",
    "column_absent": "the patients table has no such column",
}

@dataclass(frozen=True)
class CardInputs:
    """A score card's inputs for every patient of a cohort.

    Attributes
    ----------
    card_id, landmark_day
        The card and the landmark (days since infusion) the windows were placed around.
    values
        Index ``patient_id`` (every patient of the cohort, in its order); one column per card
        variable, in the variable's canonical unit (see ``units``); NaN where missing.
    days
        Day since infusion of the value used (NaN for patient-level or missing values).
    last_days
        Latest day among the observations the aggregate looked at (for ``max``/``min`` every
        window value competes; otherwise the value used).  Used for tocilizumab checks.
    rows
        Index label of the observations row the value came from (-1 if none or patient-level),
        so an error can point at the cohort row.
    missing
        Long table ``patient_id, variable, reason, detail``: one row per missing value
        (reason codes in :data:`MISSING_REASONS`).
    units
        Canonical unit of each variable (None for unit-less inputs).
    analytes
        Observation analyte read by each variable (None for patient-level variables).
    cytokine_warning
        The card's ``uses_cytokines_after_tocilizumab_warning``.
    """

    card_id: str
    landmark_day: float
    values: pd.DataFrame
    days: pd.DataFrame
    last_days: pd.DataFrame
    rows: pd.DataFrame
    missing: pd.DataFrame
    units: dict[str, str | None]
    analytes: dict[str, str | None]
    cytokine_warning: bool = False

    @property
    def n_patients(self) -> int:
        return len(self.values)

    @property
    def complete(self) -> pd.Series:
        """Boolean per patient: every input present."""
        return self.values.notna().all(axis=1)

    @property
    def n_complete(self) -> int:
        """Patients with every input present (a gated input, e.g. Hay's MCP-1 without fever,
        can be missing and the score still computable: see :func:`score_cohort`)."""
        return int(self.complete.sum())

    def missing_counts(self) -> pd.DataFrame:
        """Missing values per variable and reason: ``variable, reason, n``."""
        if self.missing.empty:
            return pd.DataFrame({"variable": pd.Series(dtype=str),
                                 "reason": pd.Series(dtype=str),
                                 "n": pd.Series(dtype="int64")})
        return (self.missing.groupby(["variable", "reason"], sort=True).size()
                .rename("n").reset_index())

    def summary(self) -> dict[str, Any]:
        """Counts only (no identifiers, no values): for reports and ``--json`` output."""
        per_var = {v: int(self.values[v].isna().sum()) for v in self.values.columns}
        return {"card_id": self.card_id, "landmark_day": self.landmark_day,
                "n_patients": self.n_patients, "n_complete": self.n_complete,
                "n_missing_by_variable": per_var,
                "missing_by_reason": self.missing_counts().to_dict(orient="records")}

    def to_frame(self) -> pd.DataFrame:
        """Values with ``patient_id`` as a column (canonical units)."""
        return self.values.reset_index()


# --- landmark ---------------------------------------------------------------------------

def resolve_landmark_day(card: ScoreCard, landmark_day: float | None = None) -> float:
    """The landmark of ``card`` in days since infusion (``landmark_day`` overrides it)."""
    return _card_landmark(card, landmark_day).day


def _card_landmark(card: ScoreCard, landmark_day: float | None) -> Landmark:
    """The card's landmark, parsed by the landmark table's parser (None means day 0)."""
    if landmark_day is not None:
        day = float(landmark_day)
        if not math.isfinite(day):
            raise ScoreCardError(f"landmark_day must be a finite number of days; got {landmark_day!r}")
        return parse_landmark(day)
    try:
        return parse_landmark("day0" if card.landmark is None else card.landmark)
    except ValueError:
        raise ScoreCardError(
            f"score card '{card.id}': landmark {card.landmark!r} is not a named landmark "
            f"({', '.join(NAMED_LANDMARKS)}) nor 'day<n>'; pass landmark_day=") from None


# --- extraction -------------------------------------------------------------------------

def _window_text(lo: float, hi: float) -> str:
    return f"day {lo:g} to day {hi:g}"


def card_inputs(card: ScoreCard, cohort: Cohort, *, landmark_day: float | None = None) -> CardInputs:
    """Each card variable's value per patient, in canonical units, with reasons for gaps.

    Observation variables are read by :func:`crsscore.data.landmark.read_values`, the rule the
    landmark table uses, over the card's own ``day_window`` and ``aggregate``.

    Parameters
    ----------
    card
        The score card; observation variables need a ``day_window``.
    cohort
        A cohort in the canonical format.  Observation units are honoured row by row.
    landmark_day
        Days since infusion to place the windows around; default: the card's landmark.

    Returns
    -------
    CardInputs
        One row per patient of ``cohort.patients`` (none dropped).

    Raises
    ------
    ScoreCardError
        A variable cannot be extracted (no window, unknown analyte, derived source).
    DataError, UnitError
        Observations with a bad day, value or unit for an analyte the card reads.
    """
    lm = _card_landmark(card, landmark_day)
    ids = patient_index(cohort.patients)
    for v in card.variables:
        _check_extractable(card, v)
    codes = sorted({v.analyte_code for v in card.variables if v.source == "observation"})
    obs = canonical_observations(cohort.observations, codes, ids)
    observed = obs.observed()

    values: dict[str, pd.Series] = {}
    days: dict[str, pd.Series] = {}
    last_days: dict[str, pd.Series] = {}
    src_rows: dict[str, pd.Series] = {}
    units: dict[str, str | None] = {}
    analytes: dict[str, str | None] = {}
    missing: list[pd.DataFrame] = []
    for var in card.variables:
        if var.source == "patient":
            val, reason, detail = _patient_values(var, cohort.patients, ids)
            values[var.name] = val
            days[var.name] = pd.Series(np.nan, index=ids)
            last_days[var.name] = pd.Series(np.nan, index=ids)
            src_rows[var.name] = pd.Series(-1, index=ids, dtype="int64")
            col = PATIENT_COLUMNS.get(var.name)
            units[var.name] = col.unit if col is not None else None
            analytes[var.name] = None
        else:
            code = var.analyte_code
            assert var.day_window is not None  # checked by _check_extractable
            window = lm.over(*var.day_window, aggregate=var.aggregate)
            read = read_values(obs, window, [code])
            values[var.name] = pd.Series(read.value[:, 0], index=ids)
            days[var.name] = pd.Series(read.day[:, 0], index=ids)
            last_days[var.name] = pd.Series(read.last_day[:, 0], index=ids)
            src_rows[var.name] = pd.Series(read.row[:, 0], index=ids, dtype="int64")
            units[var.name] = canonical_unit(code)
            analytes[var.name] = code
            reason = np.where(~observed[:, codes.index(code)], "no_observations",
                              np.where(read.in_window[:, 0], "value_missing", "none_in_window"))
            reason = np.where(np.isnan(read.value[:, 0]), reason, "")
            win = _window_text(window.earliest, window.latest)
            texts = {"": "", "no_observations": f"no {code} observation at all",
                     "none_in_window": f"no {code} observation from {win}",
                     "value_missing": f"only blank {code} values from {win}"}
            detail = np.array([texts[str(r)] for r in reason], dtype=object)
        miss = pd.DataFrame({"patient_id": ids.to_numpy(), "variable": var.name,
                             "reason": reason, "detail": detail})
        missing.append(miss[miss["reason"] != ""])
    index = ids
    missing_frame = pd.concat(missing, ignore_index=True) if missing else pd.DataFrame(
        columns=["patient_id", "variable", "reason", "detail"])
    return CardInputs(
        card_id=card.id, landmark_day=lm.day,
        values=pd.DataFrame(values, index=index),
        days=pd.DataFrame(days, index=index),
        last_days=pd.DataFrame(last_days, index=index),
        rows=pd.DataFrame(src_rows, index=index),
        missing=missing_frame.reset_index(drop=True),
        units=units, analytes=analytes,
        cytokine_warning=card.uses_cytokines_after_tocilizumab_warning,
    )


def _check_extractable(card: ScoreCard, var: Variable) -> None:
    where = f"score card '{card.id}', variable '{var.name}'"
    if var.source == "derived":
        raise ScoreCardError(f"{where}: derived variables are not read from a cohort; "
                             "compute the column and use score_frame")
    if var.source == "observation":
        if var.analyte_code not in ANALYTE_UNITS or var.analyte_code not in ANALYTES:
            raise ScoreCardError(f"{where}: {var.analyte_code!r} is not an analyte code "
                                 f"({', '.join(ANALYTES)}); set 'analyte'")
        if var.day_window is None:
            raise ScoreCardError(f"{where}: an observation variable needs a day_window "
                                 "(days relative to the landmark)")


def _patient_values(var: Variable, patients: pd.DataFrame,
                    ids: pd.Index) -> tuple[pd.Series, Any, Any]:
    n = len(ids)
    if var.name not in patients.columns:
        val = pd.Series(np.nan, index=ids)
        return (val, np.full(n, "column_absent", dtype=object),
                np.full(n, f"patients table has no column '{var.name}'", dtype=object))
    col = patients[var.name]
    if var.kind == "categorical":
        val = pd.Series(col.astype(object).where(col.notna(), None).to_numpy(), index=ids, dtype=object)
    else:
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna() & (col.astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError([Problem(table="patients", row=i, column=var.name,
                                     message="value is not a number", value=str(col.iloc[i]),
                                     code="not_numeric")])
        val = pd.Series(num.to_numpy(dtype=np.float64, na_value=np.nan), index=ids)
    gone = val.isna().to_numpy()
    reason = np.where(gone, "value_missing", "")
    detail = np.where(gone, f"blank '{var.name}' in patients", "")
    return val, reason, detail


# --- tocilizumab ------------------------------------------------------------------------

def tocilizumab_flags(cohort: Cohort, card_inputs: CardInputs) -> pd.DataFrame:
    """Which patients' inputs include CRP/IL-6 measured on or after tocilizumab.

    A value is flagged when it was measured on or after the first tocilizumab dose (same day
    counts: the order within a day is unknown).  For ``max``/``min`` aggregates every value in
    the window competed, so the latest day looked at is used.  A tocilizumab event without a
    day flags every checked input (timing unknown).  CRP and IL-6 are always checked; the
    card flag ``uses_cytokines_after_tocilizumab_warning`` adds IFN-gamma, IL-10 and MCP-1.

    Returns one row per patient: ``patient_id``, ``first_tocilizumab_day`` (NaN if none or
    unknown), ``tocilizumab_given`` (bool), ``variables`` (comma-separated flagged variable
    names, "" if none) and ``flagged`` (bool).
    """
    ids = card_inputs.values.index
    first = pd.Series(np.nan, index=ids)
    given = pd.Series(False, index=ids)
    ev = cohort.events
    if len(ev) and {"patient_id", "event", "day"} <= set(ev.columns):
        toc = ev[ev["event"].astype(str).str.strip().str.lower() == "tocilizumab"]
        if len(toc):
            pid = toc["patient_id"].astype(str)
            day = pd.to_numeric(toc["day"], errors="coerce")
            # unknown timing counts as "before everything"
            day = day.fillna(-np.inf)
            earliest = day.groupby(pid.to_numpy()).min()
            first = earliest.reindex(ids)
            given = first.notna()
    names = [v for v, a in card_inputs.analytes.items()
             if tocilizumab_sensitive(a, cytokines=card_inputs.cytokine_warning)]
    flags = pd.DataFrame(False, index=ids, columns=names, dtype=bool)
    for v in names:
        last = card_inputs.last_days[v]
        flags[v] = (last.notna() & given & (last >= first.fillna(np.inf))).to_numpy(dtype=bool)
    listed = [",".join(c for c in names if bool(flags.at[i, c])) for i in ids] if names else [""] * len(ids)
    out = pd.DataFrame({
        "patient_id": ids.to_numpy(),
        "first_tocilizumab_day": first.replace(-np.inf, np.nan).to_numpy(dtype=np.float64),
        "tocilizumab_given": given.to_numpy(dtype=bool),
        "variables": listed,
    })
    out["flagged"] = out["variables"] != ""
    return out


# --- scoring ----------------------------------------------------------------------------

def _where(card: ScoreCard, inputs: CardInputs) -> dict[str, Where]:
    """Each variable's values located in the cohort: observations or patients row, analyte."""
    out: dict[str, Where] = {}
    positions = np.arange(inputs.n_patients, dtype=np.int64)
    for var in card.variables:
        if var.name not in inputs.rows:
            continue
        rows = inputs.rows[var.name].to_numpy(dtype=np.int64)
        table = "observations" if inputs.analytes.get(var.name) else "patients"
        out[var.name] = Where(table=table, column=var.analyte_code,
                              rows=np.where(rows >= 0, rows, positions))
    return out


def _in_cohort(cohort: Cohort, problem: Problem) -> Problem:
    """The problem with its row as in the file the table was read from (header = row 1), as
    ``check`` names it; a cohort built in memory keeps the frame's index label."""
    if problem.row is None or problem.table not in cohort.file_rows:
        return problem
    table, row = cohort.locate(problem.table, problem.row)
    return replace(problem, table=table, row=row)


def score_cohort(card: ScoreCard, cohort: Cohort, *, landmark_day: float | None = None,
                 inputs: CardInputs | None = None) -> pd.DataFrame:
    """Score every patient of ``cohort`` with ``card``.

    Returns one row per patient (cohort order): ``patient_id``, ``total``, ``probability``
    (NaN when the card has no probability map), ``risk_group`` (None when unscored) and
    ``warnings`` ("; "-separated text, "" when none: inputs missing, values after
    tocilizumab, values outside the derivation range).

    Emits one :class:`~crsscore.errors.TocilizumabWarning` when any patient's CRP/IL-6 input
    was measured on or after tocilizumab, and one :class:`~crsscore.errors.CrsscoreWarning`
    counting unscored patients.  Raises :class:`~crsscore.errors.CardInputError` (a
    :class:`~crsscore.errors.ScoreCardError` carrying every located problem) naming the cohort
    row and column when an input is impossible (platelets 0, negative LDH).
    ``inputs`` reuses a :class:`CardInputs` already built for this card and cohort.
    """
    if inputs is None:
        inputs = card_inputs(card, cohort, landmark_day=landmark_day)
    elif inputs.card_id != card.id:
        raise ScoreCardError(f"inputs were built for score card '{inputs.card_id}', not '{card.id}'")
    ev = evaluate_card(card, {str(name): col.to_numpy() for name, col in inputs.values.items()},
                       where=_where(card, inputs))
    if ev.problems:  # each value refused, named by its cohort row (and the score too large)
        named = [_in_cohort(cohort, replace(p, message=f"cannot compute score '{card.id}' "
                                                       f"({name}): {p.message}"))
                 for name, e in ev.variables.items() for p in e.problems]
        # the whole score too large: the patient's row of the patients table (in its file)
        whole = [_in_cohort(cohort, replace(p, table="patients"))
                 for p in ev.problems[len(named):]]
        raise CardInputError(named + whole)
    total = ev.total
    notes: list[list[str]] = [[] for _ in range(inputs.n_patients)]

    unscored = np.isnan(total)
    pos = {pid: i for i, pid in enumerate(inputs.values.index)}
    for rec in inputs.missing.itertuples(index=False):
        i = pos[rec.patient_id]
        if unscored[i]:
            notes[i].append(f"not scored: {rec.variable} missing ({rec.detail})")

    flags = tocilizumab_flags(cohort, inputs)
    for i, (flagged, names) in enumerate(zip(flags["flagged"], flags["variables"], strict=True)):
        if flagged and not unscored[i]:
            notes[i].append(f"{names} measured on or after tocilizumab")

    for var in card.variables:
        if var.training_range is None:
            continue
        lo, hi = var.training_range
        for j in np.flatnonzero(ev.variables[var.name].outside_training):
            notes[int(j)].append(f"{var.name} outside the derivation range {lo:g}-{hi:g} {var.unit or ''}".rstrip())

    n_flag = int((flags["flagged"].to_numpy(dtype=bool) & ~unscored).sum())
    if n_flag:
        warnings.warn(TocilizumabWarning(
            f"score '{card.id}': {n_flag} of {inputs.n_patients} patient(s) scored with CRP/IL-6 "
            "measured on or after tocilizumab (CRP falls and IL-6 rises whatever the course); "
            "see the 'warnings' column"), stacklevel=2)
    if unscored.any():
        by_var = inputs.missing[inputs.missing["patient_id"].isin(inputs.values.index[unscored])]
        counts = by_var.groupby("variable").size()
        listed = ", ".join(f"{k} {int(v)}" for k, v in counts.items())
        warnings.warn(CrsscoreWarning(
            f"score '{card.id}': {int(unscored.sum())} of {inputs.n_patients} patient(s) not "
            f"scored (missing inputs: {listed}); they are kept with total NaN"), stacklevel=2)

    risk = [g if isinstance(g, str) else None for g in ev.risk_group]
    return pd.DataFrame({
        "patient_id": inputs.values.index.to_numpy(),
        "total": total,
        "probability": ev.probability,
        "risk_group": pd.Series(risk, dtype=object),
        "warnings": ["; ".join(n) for n in notes],
    })


__all__ = ["CYTOKINES", "MISSING_REASONS", "TOCILIZUMAB_SENSITIVE", "CardInputs", "card_inputs",
           "resolve_landmark_day", "score_cohort", "tocilizumab_flags"]
