"""From a cohort to a score's inputs, and from inputs to scores.

:func:`card_inputs` builds one row per patient holding each card variable's value in its
canonical unit, taken from ``cohort.observations`` by the variable's day window and aggregate
(or from ``cohort.patients`` for patient-level variables), and records for every patient and
variable why a value is missing.  :func:`score_cohort` scores every patient with
:func:`~crsscore.scores.evaluate.evaluate_card` and adds per-patient warnings.  Patients
without a score's inputs are kept (total NaN) and counted, never dropped.

Window conventions (documented here once, used by every card):

* Days are days since infusion.  A card's ``landmark`` gives the reference day: a named
  landmark (``"pre-ld"`` = day -5, ``"day0"`` = 0, see ``schema.NAMED_LANDMARKS``),
  ``"day<n>"`` (``"day-1"``, ``"day+1"``) or None (= day 0).  ``landmark_day=`` overrides it,
  e.g. to evaluate m-EASIX at day -1 with the same card.
* A variable's ``day_window = (lo, hi)`` is relative to the landmark and inclusive at both
  ends: observations with ``landmark + lo <= day <= landmark + hi`` qualify.
* Aggregates: ``max``/``min`` over the window; ``first``/``last`` by day; ``nearest`` to the
  landmark, ties going to the earlier measurement.  Ties on the same day keep table order.
* Observation values are converted from their row's ``unit`` to the analyte's canonical unit;
  a missing, unknown or ambiguous unit raises :class:`~crsscore.errors.UnitError`.

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
import re
import warnings
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.data.schema import ANALYTES, NAMED_LANDMARKS, PATIENT_COLUMNS
from crsscore.errors import (
    CardInputError,
    CrsscoreWarning,
    DataError,
    Problem,
    ScoreCardError,
    TocilizumabWarning,
    UnitError,
)
from crsscore.scores.evaluate import (
    CYTOKINES,
    TOCILIZUMAB_SENSITIVE,
    Where,
    evaluate_card,
    tocilizumab_sensitive,
)
from crsscore.scores.scorecard import ScoreCard, Variable
from crsscore.units import ANALYTE_UNITS, canonical_unit, conversion_for

#: Reason codes in :attr:`CardInputs.missing`.
MISSING_REASONS: Final[dict[str, str]] = {
    "no_observations": "no observation of this analyte for the patient",
    "none_in_window": "observations exist, none inside the day window",
    "value_missing": "only blank values inside the window / blank patient value",
    "column_absent": "the patients table has no such column",
}

_EPS: Final = 1e-9  # days: absorbs float error in fractional days (36 h = 1.5 d)


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

_DAY_RE: Final = re.compile(r"(?:day|d)\s*([+-]?\d+(?:\.\d+)?)")


def resolve_landmark_day(card: ScoreCard, landmark_day: float | None = None) -> float:
    """The landmark of ``card`` in days since infusion (``landmark_day`` overrides it)."""
    if landmark_day is not None:
        day = float(landmark_day)
        if not math.isfinite(day):
            raise ScoreCardError(f"landmark_day must be a finite number of days; got {landmark_day!r}")
        return day
    if card.landmark is None:
        return 0.0
    if card.landmark in NAMED_LANDMARKS:
        return float(NAMED_LANDMARKS[card.landmark])
    m = _DAY_RE.fullmatch(card.landmark.strip().lower())
    if m is None:
        raise ScoreCardError(
            f"score card '{card.id}': landmark {card.landmark!r} is not a named landmark "
            f"({', '.join(NAMED_LANDMARKS)}) nor 'day<n>'; pass landmark_day=")
    return float(m.group(1))


# --- extraction -------------------------------------------------------------------------

def _patient_ids(cohort: Cohort) -> pd.Index:
    if "patient_id" not in cohort.patients.columns:
        raise DataError([Problem(table="patients", column="patient_id",
                                 message="column missing", code="missing_column")])
    ids = cohort.patients["patient_id"].astype(str)
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError([Problem(table="patients", row=i, column="patient_id",
                                 message=f"{int(dup.sum())} duplicated patient_id value(s)",
                                 code="duplicate")])
    return pd.Index(ids.to_numpy(), name="patient_id", dtype=object)


def _observations_in_canonical(obs: pd.DataFrame, analytes: set[str]) -> pd.DataFrame:
    """Rows of ``analytes`` with numeric day and value converted to canonical units.

    Columns: ``patient_id`` (str), ``analyte``, ``day``, ``value``, ``row`` (source index
    label), ``pos`` (source position, for stable ordering).  Raises once with every problem.
    """
    cols = {"patient_id", "day", "analyte", "value", "unit"}
    if obs.empty or not analytes:
        return pd.DataFrame({"patient_id": pd.Series(dtype=object), "analyte": pd.Series(dtype=object),
                             "day": pd.Series(dtype=float), "value": pd.Series(dtype=float),
                             "row": pd.Series(dtype="int64"), "pos": pd.Series(dtype="int64")})
    absent = sorted(cols - set(obs.columns))
    if absent:
        raise DataError([Problem(table="observations", column=c, message="column missing",
                                 code="missing_column") for c in absent])
    analyte = obs["analyte"].astype(str).str.strip().str.lower()
    keep = analyte.isin(sorted(analytes)).to_numpy()
    sub = obs.loc[keep]
    labels = obs.index[keep]
    positions = np.flatnonzero(keep)
    problems: list[Problem] = []
    day = pd.to_numeric(sub["day"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    for i in np.flatnonzero(np.isnan(day))[:20]:
        problems.append(Problem(table="observations", row=_label(labels[i]), column="day",
                                message="day missing or not a number",
                                value=str(sub["day"].iloc[i]), code="invalid_day"))
    raw = sub["value"]
    value = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(value) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    for i in np.flatnonzero(bad)[:20]:
        problems.append(Problem(table="observations", row=_label(labels[i]), column="value",
                                message="value is not a number", value=str(raw.iloc[i]),
                                code="not_numeric"))
    sub_analyte = analyte.loc[keep].to_numpy()
    units = sub["unit"].astype(object).to_numpy()
    unit_key = np.array(["" if pd.isna(u) else str(u) for u in units], dtype=object)
    canon = np.full(value.shape, np.nan)
    for code in sorted(set(sub_analyte)):
        in_code = sub_analyte == code
        for u in sorted(set(unit_key[in_code])):
            hit = in_code & (unit_key == u)
            first = int(np.flatnonzero(hit)[0])
            try:
                conv = conversion_for(code, u or None, column="unit", table="observations",
                                      row=_label(labels[first]))
            except UnitError as exc:
                problems.extend(exc.problems)
                continue
            canon[hit] = conv.apply(value[hit])
    if problems:
        errs = [p for p in problems if p.code.endswith("unit")]
        raise (UnitError(problems) if len(errs) == len(problems) else DataError(problems))
    return pd.DataFrame({"patient_id": sub["patient_id"].astype(str).to_numpy(dtype=object),
                         "analyte": sub_analyte, "day": day, "value": canon,
                         "row": [_label(x) for x in labels], "pos": positions})


def _label(x: object) -> int:
    if isinstance(x, (int, np.integer)):
        return int(x)
    return -1


def _select(rows: pd.DataFrame, aggregate: str, landmark: float) -> pd.DataFrame:
    """One row per patient: the chosen value, its day and row, and the last day looked at."""
    if aggregate in ("max", "min"):
        order = rows.sort_values(["patient_id", "value", "pos"],
                                 ascending=[True, aggregate == "min", True], kind="stable")
        chosen = order.groupby("patient_id", sort=False).head(1)
    elif aggregate in ("first", "last"):
        order = rows.sort_values(["patient_id", "day", "pos"], kind="stable")
        g = order.groupby("patient_id", sort=False)
        chosen = g.head(1) if aggregate == "first" else g.tail(1)
    else:  # nearest: smallest distance to the landmark, then the earlier day, then table order
        rows = rows.assign(dist=(rows["day"] - landmark).abs().round(9))
        order = rows.sort_values(["patient_id", "dist", "day", "pos"], kind="stable")
        chosen = order.groupby("patient_id", sort=False).head(1)
    chosen = chosen.set_index("patient_id")
    if aggregate in ("max", "min"):
        last = rows.groupby("patient_id")["day"].max()
    else:
        last = chosen["day"]
    return pd.DataFrame({"value": chosen["value"], "day": chosen["day"],
                         "row": chosen["row"], "last_day": last.reindex(chosen.index)})


def _window_text(lo: float, hi: float) -> str:
    return f"day {lo:g} to day {hi:g}"


def card_inputs(card: ScoreCard, cohort: Cohort, *, landmark_day: float | None = None) -> CardInputs:
    """Each card variable's value per patient, in canonical units, with reasons for gaps.

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
    lm = resolve_landmark_day(card, landmark_day)
    ids = _patient_ids(cohort)
    obs_vars = [v for v in card.variables if v.source == "observation"]
    for v in card.variables:
        _check_extractable(card, v)
    obs = _observations_in_canonical(cohort.observations, {v.analyte_code for v in obs_vars})

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
            lo, hi = lm + var.day_window[0], lm + var.day_window[1]
            rows = obs[(obs["analyte"] == code) & (obs["day"] >= lo - _EPS) & (obs["day"] <= hi + _EPS)]
            in_window = set(rows["patient_id"])
            rows = rows[~np.isnan(rows["value"].to_numpy(dtype=np.float64))]
            sel = _select(rows, var.aggregate, lm).reindex(ids) if len(rows) else \
                pd.DataFrame({"value": np.nan, "day": np.nan, "row": -1, "last_day": np.nan}, index=ids)
            values[var.name] = sel["value"].astype(float)
            days[var.name] = sel["day"].astype(float)
            last_days[var.name] = sel["last_day"].astype(float)
            src_rows[var.name] = sel["row"].fillna(-1).astype("int64")
            units[var.name] = canonical_unit(code)
            analytes[var.name] = code
            seen = set(obs.loc[obs["analyte"] == code, "patient_id"])
            gone = values[var.name].isna().to_numpy()
            has_any = np.array([p in seen for p in ids], dtype=bool)
            has_window = np.array([p in in_window for p in ids], dtype=bool)
            reason = np.where(~has_any, "no_observations",
                              np.where(has_window, "value_missing", "none_in_window"))
            reason = np.where(gone, reason, "")
            win = _window_text(lo, hi)
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
        card_id=card.id, landmark_day=lm,
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
        raise CardInputError(named + ev.problems[len(named):])
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
