"""Landmark tables: one row per patient with the laboratory values available at a landmark.

A landmark model predicts, at a fixed time after infusion, the outcome of the patients still at
risk then.  :func:`build_landmark_table` turns the long ``observations`` table into that frame:

* **Which value.**  For each analyte, the measurement nearest the landmark time ``L`` within
  the window ``[L - before, L + after]`` (``window=1.0`` means +-1 day; a pair gives
  ``(before, after)``).  Ties (two values equally far from ``L``) go to the earlier one, since
  it was known first.  ``<code>_day`` records the day of the value used.  No value in the
  window gives NaN (never a value from outside the window).
* **Time of prediction.**  A value measured up to ``L + after`` may be used, so predictions
  are made at the end of the window (``prediction_day``); with the default window a "day 7"
  model may use a value drawn on day 8.  Use ``window=(1, 0)`` for a model that only looks
  back.  A landmark given as a day (``day7``) means ``L = 7.0`` days after infusion, in the
  same time scale as ``observations.day``.
* **Before lymphodepletion** (``pre-ld``): the value nearest day -5 (``pre_ld_day``) among
  values measured on or before day -3 (``pre_ld_latest``, the last day of a standard
  fludarabine/cyclophosphamide course) and no earlier than ``pre_ld_day - before``.
* **Patients already at the outcome.**  Given ``outcomes`` (e.g. ``GradingResult.outcomes``:
  ``patient_id``, ``severe_crs``, ``crs_severe_onset_day``), a patient whose severe CRS began
  before the landmark day (onset day < ``L``) is flagged ``outcome_before_landmark``.
  ``prior_outcome="exclude"`` (the default) drops those patients, ``"keep"`` keeps them
  flagged; either way :attr:`LandmarkTable.n_prior_outcome` counts them and
  :attr:`LandmarkTable.excluded` lists every patient left out, with the reason.  Patients
  with severe CRS but no onset day, patients who died before the landmark, and patients with
  no outcome information are handled in the same explicit way (see ``reason`` codes below);
  nobody is dropped silently.

Reason codes in ``excluded``: ``outcome_before_landmark``, ``onset_unknown`` (severe CRS with
no onset day: cannot tell whether it preceded the landmark), ``died_before_landmark``,
``no_outcome`` (patient absent from ``outcomes`` or outcome missing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.data.schema import ANALYTES, NAMED_LANDMARKS
from crsscore.errors import DataError, Problem
from crsscore.units import canonical_unit, conversion_for, normalise_unit

PriorOutcome = Literal["exclude", "keep"]
FloatMatrix = npt.NDArray[np.float64]

#: Latest day still counted as "before lymphodepletion" by default (Flu/Cy on days -5 to -3).
PRE_LD_LATEST: Final = -3.0

OUTCOME_COLUMNS: Final = ("patient_id", "severe_crs", "crs_severe_onset_day")
REASONS: Final = {
    "outcome_before_landmark": "severe CRS began before the landmark",
    "onset_unknown": "severe CRS with no onset day: cannot tell whether it preceded the landmark",
    "died_before_landmark": "died before the landmark",
    "no_outcome": "no outcome information",
}

_DAY_RE = re.compile(r"^d(?:ay)?\s*([+-]?\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Landmark:
    """A parsed landmark: its label, day, and the window of usable measurement times."""

    label: str
    day: float
    earliest: float
    latest: float

    @property
    def prediction_day(self) -> float:
        """The time at which every value used is known (end of the window)."""
        return self.latest


def parse_landmark(landmark: str | float, *, window: float | tuple[float, float] = 1.0,
                   pre_ld_day: float | None = None,
                   pre_ld_latest: float = PRE_LD_LATEST) -> Landmark:
    """Parse ``pre-ld``, ``day0``, ``day7``, ``day-1``, ``d3``, ``7`` or a number of days.

    >>> parse_landmark("day7")
    Landmark(label='day7', day=7.0, earliest=6.0, latest=8.0)
    >>> parse_landmark("pre-ld")
    Landmark(label='pre-ld', day=-5.0, earliest=-6.0, latest=-3.0)
    """
    before, after = _window(window)
    if isinstance(landmark, bool):
        raise ValueError(f"The 'landmark' parameter must be pre-ld, day0, day3, day7, dayN or a "
                         f"number of days. Got {landmark!r} instead.")
    if isinstance(landmark, int | float | np.integer | np.floating):
        day = float(landmark)
        label = _day_label(day)
    else:
        text = str(landmark).strip().lower().replace("_", "-")
        if text in ("pre-ld", "preld", "pre-lymphodepletion", "baseline"):
            day = float(NAMED_LANDMARKS["pre-ld"] if pre_ld_day is None else pre_ld_day)
            if not math.isfinite(day) or day > pre_ld_latest:
                raise ValueError(f"pre_ld_day ({day}) must be on or before pre_ld_latest "
                                 f"({pre_ld_latest})")
            return Landmark("pre-ld", day, day - before, float(pre_ld_latest))
        if text in NAMED_LANDMARKS:
            day = float(NAMED_LANDMARKS[text])
        else:
            m = _DAY_RE.match(text)
            try:
                day = float(m.group(1)) if m else float(text)
            except ValueError:
                raise ValueError(
                    f"The 'landmark' parameter must be pre-ld, day0, day3, day7, dayN (also "
                    f"day-1) or a number of days. Got {landmark!r} instead.") from None
        label = _day_label(day)
    if not math.isfinite(day):
        raise ValueError(f"The 'landmark' parameter must be a finite day. Got {landmark!r}.")
    return Landmark(label, day, day - before, day + after)


def landmark_day(landmark: str | float, *, pre_ld_day: float | None = None) -> float:
    """Day (since infusion) of a landmark: ``landmark_day("day7") == 7.0``, ``pre-ld`` -> -5."""
    return parse_landmark(landmark, pre_ld_day=pre_ld_day).day


def _day_label(day: float) -> str:
    return f"day{int(day)}" if float(day).is_integer() else f"day{day:g}"


def _window(window: float | tuple[float, float] | Sequence[float]) -> tuple[float, float]:
    if isinstance(window, int | float | np.integer | np.floating) and not isinstance(window, bool):
        parts = (float(window), float(window))
    elif isinstance(window, tuple | list) and len(window) == 2:
        parts = (float(window[0]), float(window[1]))
    else:
        raise ValueError(f"The 'window' parameter must be a number of days or a pair "
                         f"(before, after). Got {window!r} instead.")
    if not all(math.isfinite(p) and p >= 0 for p in parts):
        raise ValueError(f"The 'window' parameter must be finite and >= 0. Got {window!r} "
                         "instead.")
    return parts


@dataclass(frozen=True)
class LandmarkTable:
    """One row per patient at a landmark (see the module docstring for every rule).

    Attributes
    ----------
    data:
        ``patient_id``, the patients columns, one column per analyte (canonical unit, NaN when
        no value in the window) and ``<code>_day``; with outcomes also ``severe_crs``,
        ``crs_severe_onset_day``, ``outcome_before_landmark`` and ``died_before_landmark``.
    landmark, landmark_day, window, earliest, latest:
        The landmark label (``day7``, ``pre-ld``), its day, the window ``(before, after)`` in
        days and the range of measurement days that could be used.
    policy:
        ``exclude`` or ``keep`` (what was done with patients already at the outcome).
    n_prior_outcome:
        Patients whose severe CRS began before the landmark (excluded or kept, per policy).
    excluded:
        Patients left out: ``patient_id``, ``reason`` (code), ``detail``.
    flagged:
        Patients kept although already at the outcome (policy ``keep``), same columns.
    analytes, units:
        The analyte columns and their canonical units.
    n_patients_in:
        Patients in the cohort.
    synthetic:
        True when the cohort is simulated.
    """

    data: pd.DataFrame
    landmark: str
    landmark_day: float
    window: tuple[float, float]
    earliest: float
    latest: float
    policy: PriorOutcome
    n_prior_outcome: int
    excluded: pd.DataFrame
    flagged: pd.DataFrame
    analytes: tuple[str, ...]
    units: dict[str, str]
    n_patients_in: int
    has_outcomes: bool
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def prediction_day(self) -> float:
        """Day at which every value used is known (end of the window)."""
        return self.latest

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def n_events(self) -> int | None:
        """Severe CRS among the rows (None without outcomes)."""
        if not self.has_outcomes:
            return None
        return int(pd.to_numeric(self.data["severe_crs"], errors="coerce").fillna(0).sum())

    def to_frame(self) -> pd.DataFrame:
        """The landmark table itself."""
        return self.data

    def summary(self) -> pd.DataFrame:
        """Per analyte: unit, patients with a value, % missing, median and quartiles, and
        the median offset of the day used from the landmark."""
        rows: list[dict[str, Any]] = []
        n = max(self.n, 1)
        for code in self.analytes:
            v = pd.to_numeric(self.data[code], errors="coerce")
            d = pd.to_numeric(self.data[f"{code}_day"], errors="coerce")
            avail = int(v.notna().sum())
            rows.append({
                "analyte": code, "unit": self.units[code], "n": avail,
                "missing_pct": round(100.0 * (self.n - avail) / n, 1),
                "median": float(v.median()) if avail else math.nan,
                "q1": float(v.quantile(0.25)) if avail else math.nan,
                "q3": float(v.quantile(0.75)) if avail else math.nan,
                "median_offset_days": float((d - self.landmark_day).median()) if avail
                else math.nan,
            })
        return pd.DataFrame(rows, columns=["analyte", "unit", "n", "missing_pct", "median",
                                           "q1", "q3", "median_offset_days"])

    def reasons(self) -> dict[str, int]:
        """Patients excluded, by reason code."""
        if len(self.excluded) == 0:
            return {}
        counts = self.excluded["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable description (no patient values, no identifiers)."""
        return {
            "landmark": self.landmark,
            "landmark_day": self.landmark_day,
            "window_days": {"before": self.window[0], "after": self.window[1]},
            "measurement_days": [self.earliest, self.latest],
            "prediction_day": self.prediction_day,
            "policy": self.policy,
            "n_patients_in": self.n_patients_in,
            "n_rows": self.n,
            "n_events": self.n_events,
            "n_prior_outcome": self.n_prior_outcome,
            "n_excluded": len(self.excluded),
            "excluded_by_reason": self.reasons(),
            "n_flagged": len(self.flagged),
            "has_outcomes": self.has_outcomes,
            "synthetic": self.synthetic,
            "analytes": self.summary().to_dict(orient="records"),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [f"Landmark {self.landmark} (day {self.landmark_day:g}; values from day "
                 f"{self.earliest:g} to {self.latest:g}, nearest to day {self.landmark_day:g}, "
                 "ties to the earlier)",
                 f"{self.n} of {self.n_patients_in} patients"
                 + (f", {self.n_events} with severe CRS" if self.has_outcomes else "")]
        if self.has_outcomes:
            lines.append(f"Severe CRS before the landmark: {self.n_prior_outcome} patient(s), "
                         f"{'excluded' if self.policy == 'exclude' else 'kept and flagged'}")
        for reason, count in self.reasons().items():
            lines.append(f"  excluded, {REASONS.get(reason, reason)}: {count}")
        if self.synthetic:
            lines.append("SYNTHETIC DATA: simulated patients, not real ones")
        return "\n".join(lines)


def build_landmark_table(cohort: Cohort, landmark: str | float, *,
                         window: float | tuple[float, float] = 1.0,
                         analytes: Sequence[str] | None = None,
                         outcomes: pd.DataFrame | Any | None = None,
                         prior_outcome: PriorOutcome = "exclude",
                         pre_ld_day: float | None = None,
                         pre_ld_latest: float = PRE_LD_LATEST) -> LandmarkTable:
    """Build the landmark table of ``cohort`` at ``landmark`` (see the module docstring).

    Parameters
    ----------
    cohort : the cohort (observations in canonical units; other units are converted).
    landmark : ``pre-ld``, ``day0``, ``day3``, ``day7``, any ``dayN`` (``day-1``) or a number
        of days after infusion.
    window : days either side of the landmark (default 1.0), or ``(before, after)``.
    analytes : analyte codes to include (default: every analyte present, schema order).
    outcomes : frame with ``patient_id``, ``severe_crs`` (0/1) and ``crs_severe_onset_day``
        (e.g. ``grade_cohort(cohort).outcomes``; a ``GradingResult`` itself is accepted).
        Without it no patient is excluded.
    prior_outcome : ``exclude`` (default) or ``keep`` patients whose severe CRS began before
        the landmark day.
    pre_ld_day, pre_ld_latest : target day (default -5) and latest day (default -3) of the
        ``pre-ld`` landmark.

    Examples
    --------
    >>> from crsscore.data.simulate import simulate_cohort
    >>> t = build_landmark_table(simulate_cohort(30, seed=2), "day7", analytes=["crp", "anc"])
    >>> list(t.data.columns[-4:]), t.landmark_day, t.window
    (['crp', 'crp_day', 'anc', 'anc_day'], 7.0, (1.0, 1.0))
    """
    if prior_outcome not in ("exclude", "keep"):
        raise ValueError("The 'prior_outcome' parameter must be 'exclude' or 'keep'. "
                         f"Got {prior_outcome!r} instead.")
    lm = parse_landmark(landmark, window=window, pre_ld_day=pre_ld_day,
                        pre_ld_latest=pre_ld_latest)
    patients = cohort.patients
    if "patient_id" not in patients.columns:
        raise DataError([Problem(table="patients", column="patient_id",
                                 message="no patient_id column", code="missing_column")])
    pid = patients["patient_id"].astype("str")
    if pid.isna().any() or not pid.is_unique:
        raise DataError([Problem(table="patients", column="patient_id",
                                 message="patient_id must be present and unique for a landmark "
                                         "table", code="duplicate_id")])
    obs = cohort.observations
    codes = _analytes(obs, analytes)
    notes: list[str] = []
    val, day, n_orphan = _nearest(obs, codes, lm, pd.Index(pid.to_numpy()))
    if n_orphan:
        notes.append(f"{n_orphan} observation row(s) in the window belong to patients not in "
                     "the patients table: ignored")

    data = patients.copy()
    data["patient_id"] = pid.to_numpy()
    wide_cols: dict[str, Any] = {}
    for j, code in enumerate(codes):
        wide_cols[code] = val[:, j]
        wide_cols[f"{code}_day"] = day[:, j]
    data = pd.concat([data.reset_index(drop=True),
                      pd.DataFrame(wide_cols, index=pd.RangeIndex(len(data)))], axis=1)

    empty = pd.DataFrame({"patient_id": pd.Series(dtype="str"),
                          "reason": pd.Series(dtype="str"), "detail": pd.Series(dtype="str")})
    excluded, flagged = empty, empty
    n_prior = 0
    if outcomes is not None and not isinstance(outcomes, pd.DataFrame):
        if not isinstance(getattr(outcomes, "outcomes", None), pd.DataFrame):
            raise TypeError("The 'outcomes' parameter must be a DataFrame (or a GradingResult). "
                            f"Got {type(outcomes).__name__} instead.")
        outcomes = outcomes.outcomes
    has_outcomes = outcomes is not None
    if outcomes is not None:
        data, excluded, flagged, n_prior = _apply_outcomes(data, outcomes, cohort, lm,
                                                           prior_outcome, notes)
    if cohort.synthetic:
        notes.append("SYNTHETIC DATA: simulated patients, not real ones")
    return LandmarkTable(
        data=data, landmark=lm.label, landmark_day=lm.day,
        window=(lm.day - lm.earliest, lm.latest - lm.day),
        earliest=lm.earliest, latest=lm.latest, policy=prior_outcome, n_prior_outcome=n_prior,
        excluded=excluded, flagged=flagged, analytes=tuple(codes),
        units={c: canonical_unit(c) for c in codes}, n_patients_in=len(patients),
        has_outcomes=has_outcomes, synthetic=bool(cohort.synthetic), notes=notes,
    )


def _analytes(obs: pd.DataFrame, analytes: Sequence[str] | None) -> list[str]:
    if analytes is None:
        present = set(pd.unique(obs["analyte"].dropna())) if len(obs) else set()
        return [c for c in ANALYTES if c in present]
    if isinstance(analytes, str):
        analytes = [analytes]
    unknown = [a for a in analytes if a not in ANALYTES]
    if unknown:
        raise ValueError(f"unknown analyte code(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(ANALYTES)}")
    if len(set(analytes)) != len(analytes):
        raise ValueError(f"analytes repeated: {', '.join(analytes)}")
    return list(analytes)


def _nearest(obs: pd.DataFrame, codes: list[str], lm: Landmark, patient_ids: pd.Index
             ) -> tuple[FloatMatrix, FloatMatrix, int]:
    """Value and day nearest ``lm.day`` in the window per (patient, analyte); ties to the
    earlier.  Returns (values, days) of shape (patients, analytes) and the number of window
    rows whose patient is not in ``patient_ids``."""
    shape = (len(patient_ids), len(codes))
    val = np.full(shape, np.nan)
    day_out = np.full(shape, np.nan)
    if len(obs) == 0 or not codes:
        return val, day_out, 0
    day = pd.to_numeric(obs["day"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    rows = np.flatnonzero((day >= lm.earliest - 1e-9) & (day <= lm.latest + 1e-9))
    rows = rows[obs["analyte"].iloc[rows].isin(codes).to_numpy(dtype=bool, na_value=False)]
    cols = ["patient_id", "analyte", "value", "unit"] if "unit" in obs.columns else \
        ["patient_id", "analyte", "value"]
    sub = obs.iloc[rows][cols].copy()
    if "unit" not in sub.columns:
        sub["unit"] = ""
    sub["day"] = day[rows]
    sub["value"] = pd.to_numeric(sub["value"], errors="coerce")
    sub["analyte"] = sub["analyte"].astype("str")
    sub = sub[sub["value"].notna()]
    sub = _to_canonical(sub)
    pcode = patient_ids.get_indexer(pd.Index(sub["patient_id"].astype("str")))
    n_orphan = int((pcode < 0).sum())
    acode = pd.Index(codes).get_indexer(pd.Index(sub["analyte"]))
    ok = pcode >= 0
    pcode, acode = pcode[ok], acode[ok]
    d = sub["day"].to_numpy(dtype=np.float64)[ok]
    v = sub["value"].to_numpy(dtype=np.float64)[ok]
    dist = np.round(np.abs(d - lm.day), 9)
    order = np.lexsort((d, dist, acode, pcode))
    pcode, acode, d, v = pcode[order], acode[order], d[order], v[order]
    first = np.ones(len(pcode), dtype=bool)
    first[1:] = (pcode[1:] != pcode[:-1]) | (acode[1:] != acode[:-1])
    val[pcode[first], acode[first]] = v[first]
    day_out[pcode[first], acode[first]] = d[first]
    return val, day_out, n_orphan


def _to_canonical(sub: pd.DataFrame) -> pd.DataFrame:
    """Convert any non-canonical unit; a missing, unknown or ambiguous unit raises UnitError."""
    units = sub["unit"].astype("str").fillna("")
    pairs = pd.DataFrame({"analyte": sub["analyte"], "unit": units}).drop_duplicates()
    scale = pd.Series(1.0, index=sub.index)
    offset = pd.Series(0.0, index=sub.index)
    for analyte, unit in pairs.itertuples(index=False):
        if unit and normalise_unit(unit) == canonical_unit(analyte):
            continue
        conv = conversion_for(analyte, unit or None, table="observations")
        rows = (sub["analyte"] == analyte) & (units == unit)
        scale[rows] = conv.scale
        offset[rows] = conv.offset
    sub = sub.assign(value=sub["value"] * scale + offset)
    return sub


def _apply_outcomes(data: pd.DataFrame, outcomes: pd.DataFrame, cohort: Cohort, lm: Landmark,
                    policy: PriorOutcome, notes: list[str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    missing = [c for c in OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise DataError([Problem(table="outcomes", column=c, code="missing_column",
                                 message=f"outcomes need column '{c}'",
                                 expected=", ".join(OUTCOME_COLUMNS)) for c in missing])
    out = outcomes[list(OUTCOME_COLUMNS)].copy()
    out["patient_id"] = out["patient_id"].astype("str")
    if out["patient_id"].duplicated().any():
        raise DataError([Problem(table="outcomes", column="patient_id", code="duplicate_id",
                                 message="outcomes have more than one row for some patients")])
    severe = pd.to_numeric(out["severe_crs"], errors="coerce")
    bad = severe.notna() & ~severe.isin([0, 1])
    if bad.any():
        raise DataError([Problem(table="outcomes", column="severe_crs", code="invalid",
                                 message="severe_crs must be 0 or 1",
                                 value=str(out.loc[bad, "severe_crs"].iloc[0]),
                                 expected="0 or 1")])
    out["severe_crs"] = severe
    out["crs_severe_onset_day"] = pd.to_numeric(out["crs_severe_onset_day"], errors="coerce")
    unknown_ids = int((~out["patient_id"].isin(data["patient_id"])).sum())
    if unknown_ids:
        notes.append(f"{unknown_ids} outcome row(s) name patients not in the cohort: ignored")
    merged = data.merge(out, on="patient_id", how="left", validate="1:1",
                        suffixes=("_patients", ""))
    sev = merged["severe_crs"].to_numpy(dtype=np.float64, na_value=np.nan)
    onset = merged["crs_severe_onset_day"].to_numpy(dtype=np.float64, na_value=np.nan)
    no_outcome = np.isnan(sev)
    prior = (sev == 1) & (onset < lm.day)
    onset_unknown = (sev == 1) & np.isnan(onset)
    death = _death_day(cohort, merged["patient_id"])
    died = (death < lm.day) & ~prior & ~no_outcome
    merged["outcome_before_landmark"] = prior
    merged["died_before_landmark"] = died
    severe_int = pd.array(np.nan_to_num(sev).astype(np.int64), dtype="Int64")
    severe_int[no_outcome] = pd.NA
    merged["severe_crs"] = severe_int

    reason = np.full(len(merged), "", dtype=object)
    detail = np.full(len(merged), "", dtype=object)
    reason[no_outcome] = "no_outcome"
    detail[no_outcome] = REASONS["no_outcome"]
    for mask, code, text in (
            (prior, "outcome_before_landmark",
             [f"severe CRS onset day {d:g} < landmark day {lm.day:g}" for d in onset[prior]]),
            (onset_unknown, "onset_unknown", REASONS["onset_unknown"]),
            (died, "died_before_landmark",
             [f"died on day {d:g}, before day {lm.day:g}" for d in death[died]])):
        free = mask & (reason == "")
        reason[free] = code
        detail[free] = np.asarray(text, dtype=object)[free[mask]] if isinstance(text, list) \
            else text
    listed = pd.DataFrame({"patient_id": merged["patient_id"].astype("str"),
                           "reason": pd.Series(reason, dtype="str"),
                           "detail": pd.Series(detail, dtype="str")})
    always = np.isin(reason, ["no_outcome"])
    policy_drop = np.isin(reason, ["outcome_before_landmark", "onset_unknown",
                                   "died_before_landmark"])
    drop = always | (policy_drop if policy == "exclude" else np.zeros(len(reason), bool))
    flag = policy_drop & ~drop
    excluded = listed[drop].reset_index(drop=True)
    flagged = listed[flag].reset_index(drop=True)
    n_prior = int(prior.sum())
    if n_prior and policy == "keep":
        notes.append(f"{n_prior} patient(s) already had severe CRS before {lm.label}: kept "
                     "(flag outcome_before_landmark); a model fitted on them predicts an "
                     "outcome it has already seen")
    data_out = merged[~drop].reset_index(drop=True)
    return data_out, excluded, flagged, n_prior


def _death_day(cohort: Cohort, patient_ids: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    ev = cohort.events
    if len(ev) == 0 or "event" not in ev.columns:
        return np.full(len(patient_ids), np.nan)
    deaths = ev[ev["event"].astype("str") == "death"]
    if len(deaths) == 0:
        return np.full(len(patient_ids), np.nan)
    first = pd.to_numeric(deaths["day"], errors="coerce").groupby(
        deaths["patient_id"].astype("str")).min()
    return first.reindex(patient_ids.astype("str")).to_numpy(dtype=np.float64, na_value=np.nan)


__all__ = ["PRE_LD_LATEST", "REASONS", "Landmark", "LandmarkTable", "build_landmark_table",
           "landmark_day", "parse_landmark"]
