"""Raw canonical events and observations -> one row of grading features per patient-day.

Everything here is vectorised: rows are mapped to an integer patient-day key, and per-day
features are reduced with ``numpy.ufunc.at``/``bincount``.  Rows that are contradictory or
incomplete do not raise: they become :class:`~crsscore.errors.Problem` objects and mark the day
as not gradable (for CRS, ICANS or the organ-toxicity part of the older scales), so a single bad
cell never stops a cohort from being graded and is never silently guessed around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.columnar import as_float, encode_text
from crsscore.data.cohort import Cohort
from crsscore.data.schema import CRS_EVENTS, EVENT_COLUMNS, OBSERVATION_COLUMNS
from crsscore.errors import Problem, UnitError
from crsscore.grading._combine import Reasons, select
from crsscore.grading.settings import GradingSettings
from crsscore.units import (
    AGENTS,
    DOSE_UNIT_FORMS,
    agent_index,
    conversion_for,
    dose_factor,
)

F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Largest patients x day-range grid indexed densely (else keys are sorted and searched).
DENSE_MAX = 50_000_000
#: Days are keyed as ``patient_code * _SPAN + (day - _DAY0)``.
_DAY0: Final = -100
_SPAN: Final = 4000

_NE, _EPI, _DOPA, _PHE, _VASO, _ANG, _DOBU, _MIL = range(8)
INOTROPES: Final = frozenset({_DOBU, _MIL})
#: Single-agent high-dose thresholds (Lee 2014 table; unverified), in the agent's canonical unit.
HIGH_DOSE_SINGLE: Final = {_NE: 20.0, _DOPA: 10.0, _PHE: 200.0, _EPI: 10.0}

DEVICES: Final = ("room_air", "nasal_cannula", "blow_by", "high_flow_nasal_cannula", "facemask",
                  "non_rebreather", "venturi", "cpap", "bipap", "mechanical_ventilation")
_DEVICE_ALIASES: Final = {"ra": "room_air", "none": "room_air", "nc": "nasal_cannula",
                          "low_flow_nasal_cannula": "nasal_cannula", "blowby": "blow_by",
                          "hfnc": "high_flow_nasal_cannula", "high_flow": "high_flow_nasal_cannula",
                          "face_mask": "facemask", "simple_mask": "facemask", "mask": "facemask",
                          "nrb": "non_rebreather", "non-rebreather": "non_rebreather",
                          "venturi_mask": "venturi", "niv": "bipap", "bilevel": "bipap",
                          "mv": "mechanical_ventilation", "ventilator": "mechanical_ventilation",
                          "intubated": "mechanical_ventilation", "intubation": "mechanical_ventilation",
                          "imv": "mechanical_ventilation"}

DEATH_CAUSES: Final = {"crs": 1, "icans": 2, "infection": 3, "disease": 3, "other": 3}
LOC_GRADE: Final = {"spontaneous": 1, "voice": 2, "touch": 3, "unarousable": 4}
SEIZURE_GRADE: Final = {"resolved_rapidly": 3, "nonconvulsive_eeg": 3, "prolonged": 4,
                        "repeated": 4}
EDEMA_GRADE: Final = {"focal": 3, "diffuse": 4}
_LIVER: Final = frozenset({"transaminases", "transaminitis", "alt", "ast", "liver", "bilirubin",
                           "hepatic"})
_KIDNEY: Final = frozenset({"creatinine", "kidney", "renal", "aki"})

#: Events that say something about blood pressure or oxygenation on a day.
VITAL_EVENTS: Final = frozenset({"hypotension", "vasopressor", "vasopressor_hours", "oxygen",
                                 "fio2"})
ICANS_EVENTS: Final = frozenset({"ice", "capd", "consciousness", "seizure", "motor_weakness",
                                 "cerebral_edema"})
RECORDED_EVENTS: Final = frozenset({"crs_grade_recorded", "icans_grade_recorded"})


@dataclass
class DailyFeatures:
    """Per patient-day grading inputs (all arrays have one entry per day, sorted by patient, day).

    Integer conventions: ``o2_rank`` is the ASTCT respiratory grade (0, 2, 3, 4); ``vent`` is
    0 none, 1 non-invasive positive pressure, 2 invasive; ``high_dose`` is 1 yes, 0 no, -1
    unknown; ``death`` is 0 none, 1 CRS, 2 ICANS, 3 other cause, 4 cause not recorded; ICANS
    domains hold the ASTCT grade each sets (0 when absent).
    """

    patient: I64
    day: I64
    patient_ids: pd.Index
    tmax: F8
    sbp_min: F8
    sbp_limit: F8
    hypo_event: B
    has_crs_info: B
    has_vitals: B
    crs_problem: npt.NDArray[np.int32]
    n_press_astct: I8
    vasopressin: B
    n_press_all: I8
    high_dose: I8
    pressor_hours: F8
    ne_eq: F8
    o2_any: B
    o2_rank: I8
    vent: I8
    fio2: F8
    treated_today: B
    antipyretic_today: B
    organ_liver: I8
    organ_kidney: I8
    organ_other: I8
    organ_problem: npt.NDArray[np.int32]
    death: I8
    ice: F8
    capd: F8
    loc: I8
    seizure: I8
    motor: B
    edema: I8
    has_icans_info: B
    icans_problem: npt.NDArray[np.int32]
    age: F8
    messages: list[str]
    # history (filled by add_history or by the single-day API)
    established: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    treated: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    waiver_recent: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    episode: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    pressor_run_hours: F8 = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        return int(self.patient.shape[0])


@dataclass(frozen=True)
class Recorded:
    """The centre's recorded grades, one entry per (day position, kind), sorted by position
    then kind: ``pos`` (index of the patient-day in the features), ``kind`` (``crs`` or
    ``icans``), ``patient_id``, ``day``, ``grade`` (highest recorded that day) and
    ``system`` (as the first row names it, lower case, '' when missing)."""

    pos: I64
    kind: npt.NDArray[np.object_]
    patient_id: npt.NDArray[np.object_]
    day: I64
    grade: I64
    system: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return int(self.pos.size)


@dataclass
class Extraction:
    features: DailyFeatures
    problems: list[Problem]
    recorded: Recorded
    notes: list[str]


def text_cells(values: pd.Series) -> npt.NDArray[np.object_]:
    """A text column's cells as a numpy object array (missing: None or NaN), read straight
    from Arrow for Arrow-backed strings (pandas' own conversion and factorisation cost more
    than the rest of the work on one patient's few hundred rows)."""
    arrow = getattr(values.array, "_pa_array", None)
    if arrow is not None and pa_types_is_string(arrow.type):
        return np.asarray(arrow.to_numpy(zero_copy_only=False), dtype=object)
    return np.asarray(values.to_numpy(dtype=object), dtype=object)


def factorize_text(values: pd.Series | npt.NDArray[np.object_]
               ) -> tuple[npt.NDArray[np.intp], list[object]]:
    """``pandas.factorize(values, use_na_sentinel=True)`` (codes, -1 for missing, and the
    distinct values in order of appearance), by Arrow's dictionary encoding directly for
    Arrow-backed strings (:func:`crsscore.columnar.encode_text`: as pandas does, without its
    per-call overhead)."""
    if not isinstance(values, np.ndarray):
        text = encode_text(values)
        if text is not None:
            return np.asarray(text[0], dtype=np.intp), text[1]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), list(uniques)


def _norm_text(values: pd.Series | npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Factorise a text column; return codes and the normalised unique values ('' for missing)."""
    codes, uniques = factorize_text(values)
    norm = ["" if (u is None or (isinstance(u, float) and math.isnan(u)))
            else str(u).strip().lower().replace(" ", "_") for u in uniques]
    codes = np.asarray(codes, dtype=np.intp)
    # missing -> extra slot ''
    codes = np.where(codes < 0, len(norm), codes)
    norm.append("")
    return codes, norm


@dataclass(frozen=True)
class _Rows:
    """Rows ``rows`` (positions) of ``frame``: a subset read through numpy, without copying
    the frame (a ``.loc`` per subset is most of the cost for one patient's rows).  Positions
    ``i`` below are positions in the subset."""

    frame: pd.DataFrame
    rows: npt.NDArray[np.intp]
    _texts: dict[str, npt.NDArray[np.object_]] = field(default_factory=dict, repr=False,
                                                       compare=False)

    def __len__(self) -> int:
        return int(self.rows.size)

    def texts(self, column: str) -> npt.NDArray[np.object_]:
        """:func:`text_cells` of the whole column (read once)."""
        if column not in self._texts:
            self._texts[column] = text_cells(self.frame[column])
        return self._texts[column]

    def label(self, i: int) -> int:
        """The frame's index label of subset row ``i``."""
        return int(self.frame.index[self.rows[i]])

    def cell(self, column: str, i: int) -> object:
        """The cell of ``column`` at subset row ``i`` (as ``subset[column].iloc[i]``)."""
        return self.frame[column].iloc[int(self.rows[i])]

    def cells(self, column: str, positions: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
        """The cells of ``column`` at subset positions (as ``subset[column].iloc[...]``)."""
        return np.asarray(self.frame[column].iloc[self.rows[positions]].to_numpy(dtype=object))


def _with_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The frame with any missing canonical column added as empty (no copy when complete)."""
    missing = [c for c in columns if c not in frame.columns]
    if not missing:
        return frame
    return frame.assign(**{c: pd.Series(pd.NA, index=frame.index, dtype="object")
                           for c in missing})


def _patient_codes(values: pd.Series, pid_index: pd.Index) -> I64:
    """Position of each row's patient_id in ``pid_index`` (-1 when absent or missing)."""
    ids = pid_index.to_numpy(dtype=object).tolist()
    pos = id_positions(values, {p: i for i, p in enumerate(ids) if isinstance(p, str)})
    if pos is not None:
        return pos
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lut = np.asarray(pid_index.get_indexer(pd.Index(uniques).astype("string")), dtype=np.int64)
    lut = np.append(lut, -1)  # missing patient_id -> -1
    return lut[np.asarray(codes, dtype=np.int64)]


def id_positions(values: pd.Series, where: dict[str, int]) -> I64 | None:
    """Position ``where[id]`` of each cell's id (exact string match; -1 when absent or
    missing) when ``values`` are Arrow-backed strings, else None.  One id (the monitor's
    one-patient update) is one comparison; more are factorised and looked up."""
    arrow = getattr(values.array, "_pa_array", None)
    if arrow is None or not pa_types_is_string(arrow.type):
        return None
    if len(where) == 1:
        ((only, k),) = where.items()
        return np.where(text_cells(values) == only, k, -1).astype(np.int64)
    codes, uniques = factorize_text(values)
    lut = np.array([where.get(u, -1) if isinstance(u, str) else -1 for u in uniques] + [-1],
                   dtype=np.int64)
    out: I64 = lut[codes]
    return out


def _id_index(values: pd.Series) -> tuple[pd.Index, bool]:
    """``pd.Index(values.astype("string"))`` and whether it has duplicates: for Arrow-backed
    strings, the index is built on the Arrow array itself and duplicates are counted in a
    set (pandas' conversion and hash table cost more than grading one patient)."""
    arrow = getattr(values.array, "_pa_array", None)
    if arrow is not None and pa_types_is_string(arrow.type):
        built: pd.Index = pd.Index(pd.arrays.ArrowStringArray(arrow), name=values.name)
        return built, len(set(text_cells(values).tolist())) != len(values)
    index: pd.Index = pd.Index(values.astype("string"))
    return index, bool(index.has_duplicates)


def pa_types_is_string(t: object) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _day_index(o_pc: I64, o_day: I64, o_keep: B, e_pc: I64, e_day: I64, e_keep: B,
               n_pat: int) -> tuple[I64, I64, I64]:
    """Sorted unique patient-day keys and each row's position in them (-1 for dropped rows).

    Keys are ``patient_code * _SPAN + (day - _DAY0)``.  When patients x observed day range is
    small enough (the usual case), a dense grid turns this into a few linear passes;
    otherwise keys are sorted and searched.
    """
    n_o, n_e = int(np.count_nonzero(o_keep)), int(np.count_nonzero(e_keep))
    if n_o + n_e == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.full(o_pc.size, -1, np.int64), np.full(e_pc.size, -1, np.int64)
    days = [d[k] for d, k in ((o_day, o_keep), (e_day, e_keep)) if d.size]
    lo = min(int(d.min()) for d in days if d.size)
    hi = max(int(d.max()) for d in days if d.size)
    width = hi - lo + 1
    if n_pat * width <= DENSE_MAX:
        def dense(pc: I64, day: I64, keep: B) -> I64:
            return np.where(keep, pc * width + (day - lo), 0)

        o_d = dense(o_pc, o_day, o_keep)
        e_d = dense(e_pc, e_day, e_keep)
        present = np.zeros(n_pat * width, dtype=bool)
        present[o_d[o_keep]] = True
        present[e_d[e_keep]] = True
        slots = np.flatnonzero(present)
        rank = np.cumsum(present, dtype=np.int64) - 1
        ukeys = (slots // width) * _SPAN + (slots % width + lo - _DAY0)
        o_pos = np.where(o_keep, rank[o_d], -1)
        e_pos = np.where(e_keep, rank[e_d], -1)
        return ukeys.astype(np.int64), o_pos.astype(np.int64), e_pos.astype(np.int64)
    o_key = o_pc * _SPAN + (o_day - _DAY0)
    e_key = e_pc * _SPAN + (e_day - _DAY0)
    ukeys = _sorted_unique(np.concatenate([o_key[o_keep], e_key[e_keep]]))
    o_pos = np.where(o_keep, np.searchsorted(ukeys, o_key), -1)
    e_pos = np.where(e_keep, np.searchsorted(ukeys, e_key), -1)
    return ukeys, o_pos.astype(np.int64), e_pos.astype(np.int64)


def _sorted_unique(keys: I64) -> I64:
    """Sorted unique integers (sort-based; faster than hashing for large key arrays)."""
    if keys.size == 0:
        return keys
    k = np.sort(keys)
    keep = np.empty(k.size, dtype=bool)
    keep[0] = True
    np.not_equal(k[1:], k[:-1], out=keep[1:])
    return k[keep]


def _cell(value: object) -> str:
    """A cell as shown in a problem: '' for an empty cell."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _nonnumeric_text(values: pd.Series, num: F8) -> B:
    """Cells holding text that is not a number (as opposed to empty cells)."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    text = values.astype("string").str.strip().fillna("")
    return np.asarray((text != "").to_numpy(dtype=bool) & np.isnan(num))


def _pals_limit(age: F8, settings: GradingSettings) -> F8:
    fixed = np.full(age.shape, settings.hypotension_sbp_mmhg)
    if settings.hypotension_rule == "fixed":
        return fixed
    child = np.where(age < 1.0, 70.0, 70.0 + 2.0 * age)
    return np.where(np.isfinite(age) & (age <= 10.0), np.minimum(child, fixed), fixed)


def daily_inputs(cohort: Cohort, settings: GradingSettings) -> Extraction:
    """Turn a cohort's raw tables into per patient-day grading features."""
    msgs = Reasons()  # interns per-day problem messages (shown in the daily reason)
    problems: list[Problem] = []
    notes: list[str] = []
    patients = cohort.patients
    if "patient_id" not in patients.columns:
        raise UnitError([Problem(table="patients", column="patient_id",
                                 message="the patients table has no patient_id column",
                                 code="missing_column")])
    pid_index, has_duplicates = _id_index(patients["patient_id"])
    if has_duplicates:
        pid_index = pid_index.drop_duplicates()
        notes.append("duplicate patient_id rows in patients: the first of each was used")
    n_pat = len(pid_index)
    weight = (as_float(patients["weight_kg"]) if "weight_kg" in patients.columns
              else np.full(len(patients), np.nan))
    age = (as_float(patients["age_years"]) if "age_years" in patients.columns
           else np.full(len(patients), np.nan))
    if len(weight) != n_pat:  # duplicates dropped: keep the first row of each patient
        first = ~patients["patient_id"].astype("string").duplicated().to_numpy()
        weight, age = weight[first], age[first]

    obs = _with_columns(cohort.observations, OBSERVATION_COLUMNS)
    ev = _with_columns(cohort.events, EVENT_COLUMNS)

    # ---------------------------------------------------------------- rows -> keys
    def rows_keys(sub: _Rows, table: str) -> tuple[I64, B, I64]:
        """Return patient codes, a keep mask and floor days for the rows of a frame."""
        if len(sub) == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, np.zeros(0, dtype=bool), z
        # whole columns (element-wise conversions), then the rows
        pcode = _patient_codes(sub.frame["patient_id"], pid_index)[sub.rows]
        dayf = as_float(sub.frame["day"])[sub.rows]
        known = pcode >= 0
        finite = np.isfinite(dayf)
        keep = known & finite
        n_unknown = known.size - int(np.count_nonzero(known))
        if n_unknown:
            notes.append(f"{n_unknown} {table} row(s) name a patient_id absent from patients "
                         "and were ignored")
        all_finite = bool(finite.all())  # the usual case: fewer whole-array steps
        bad_day = np.zeros(0, np.intp) if all_finite else np.flatnonzero(known & ~finite)
        for i in bad_day[:200]:
            problems.append(Problem(table=table, row=sub.label(int(i)), column="day",
                                    message="day is missing or not a number", code="bad_day",
                                    value=str(sub.cell("day", int(i))),
                                    expected="days since infusion"))
        dayi = np.floor(dayf if all_finite else np.where(finite, dayf, 0.0)).astype(np.int64)
        keep &= (dayi >= settings.start_day) & (dayi - _DAY0 < _SPAN)
        return pcode, keep, dayi

    # observations: temp and sbp only
    if len(obs):
        an_codes, an_names = _norm_text(obs["analyte"])
        is_temp = np.array([a == "temp" for a in an_names], dtype=bool)[an_codes]
        is_sbp = np.array([a == "sbp" for a in an_names], dtype=bool)[an_codes]
        osub = _Rows(obs, np.flatnonzero(is_temp | is_sbp))
        o_is_temp = is_temp[is_temp | is_sbp]
    else:
        osub = _Rows(obs, np.zeros(0, np.intp))
        o_is_temp = np.zeros(0, dtype=bool)
    o_pc, o_keep, o_day = rows_keys(osub, "observations")

    if len(ev):
        e_codes, e_names = _norm_text(ev["event"])
        relevant_names = CRS_EVENTS | ICANS_EVENTS | RECORDED_EVENTS
        rel = np.array([n in relevant_names for n in e_names], dtype=bool)[e_codes]
        esub = _Rows(ev, np.flatnonzero(rel))
        e_codes = e_codes[rel]
    else:
        esub = _Rows(ev, np.zeros(0, np.intp))
        e_codes, e_names = np.zeros(0, dtype=np.intp), []
    e_pc, e_keep, e_day = rows_keys(esub, "events")
    # events grouped by name once (rows of one event type = a slice of a stable sort)
    e_groups: dict[str, npt.NDArray[np.intp]] = {}
    if len(esub):
        order = np.argsort(e_codes, kind="stable")
        bounds = np.searchsorted(e_codes[order], np.arange(len(e_names) + 1)).tolist()
        for k, name in enumerate(e_names):
            if bounds[k + 1] > bounds[k]:
                rows = order[bounds[k]:bounds[k + 1]]  # ascending (a stable sort's slice)
                # two spellings of one name (ICE, ice): their rows merged in order
                e_groups[name] = (np.sort(np.concatenate([e_groups[name], rows]))
                                  if name in e_groups else rows)

    ukeys, o_pos, e_pos = _day_index(o_pc, o_day, o_keep, e_pc, e_day, e_keep, n_pat)
    n = int(ukeys.shape[0])
    patient = ukeys // _SPAN
    day = ukeys % _SPAN + _DAY0

    crs_problem = np.full(n, -1, dtype=np.int32)
    icans_problem = np.full(n, -1, dtype=np.int32)
    organ_problem = np.full(n, -1, dtype=np.int32)

    def flag(target: npt.NDArray[np.int32], table: str, frame: _Rows,
             rows: npt.NDArray[np.intp], positions: I64, column: str, message: str,
             expected: str | None = None, value_col: str | None = None) -> None:
        """Record one problem per offending row and mark its day."""
        if rows.size == 0:  # the usual case: no numpy call
            return
        rows = rows[positions[rows] >= 0]
        if rows.size == 0:
            return
        code = msgs.code(message)
        target[positions[rows]] = code
        shown = rows[:500]
        vals = (frame.cells(value_col, shown) if value_col else [None] * shown.size)
        for i, v in zip(shown, vals, strict=True):
            problems.append(Problem(
                table=table, row=frame.label(int(i)), column=column, message=message,
                value=None if value_col is None else _cell(v), expected=expected,
                code="grading_input"))
        if rows.size > 500:
            notes.append(f"{rows.size - 500} more rows with the problem '{message}'")

    # ------------------------------------------------------------ observations
    tmax = np.full(n, np.nan)
    sbp_min = np.full(n, np.nan)
    has_crs = np.zeros(n, dtype=bool)
    if len(osub):
        o_val = as_float(obs["value"])[osub.rows]
        u_codes, u_uniques = pd.factorize(text_cells(obs["unit"])[osub.rows],
                                          use_na_sentinel=True)
        u_codes = np.asarray(u_codes)
        conv = np.full(len(osub), np.nan)
        o_nan = np.isnan(o_val)
        o_kept = o_pos >= 0
        for analyte, amask in (("temp", o_is_temp), ("sbp", ~o_is_temp)):
            a = ANALYTE_RANGE[analyte]
            for ui in np.flatnonzero(np.bincount(u_codes[amask] + 1)) - 1:
                rows_u = np.flatnonzero(amask & (u_codes == ui))
                unit = None if ui < 0 else u_uniques[ui]
                try:
                    c = conversion_for(analyte, unit, table="observations")
                except UnitError as exc:
                    flag(crs_problem, "observations", osub, rows_u, o_pos, "unit",
                         f"{analyte}: {exc.problems[0].message}", a[2],
                         "unit")
                    continue
                conv[rows_u] = c.apply(o_val[rows_u])
            known = amask & np.isfinite(conv)
            bad = known & ((conv < a[0]) | (conv > a[1]))
            if bad.any():
                flag(crs_problem, "observations", osub, np.flatnonzero(bad), o_pos, "value",
                     f"{analyte} outside the physiological range {a[0]:g}-{a[1]:g} {a[2]}",
                     f"{a[0]:g}-{a[1]:g} {a[2]}", "value")
            nan_val = amask & o_nan
            if nan_val.any():
                flag(crs_problem, "observations", osub, np.flatnonzero(nan_val), o_pos,
                     "value", f"{analyte} value missing or not a number",
                     f"a number in {a[2]}", "value")
            ok = known & ~bad & o_kept
            if analyte == "temp":
                np.fmax.at(tmax, o_pos[ok], conv[ok])
            else:
                np.fmin.at(sbp_min, o_pos[ok], conv[ok])
        has_crs[o_pos[o_kept]] = True

    # ---------------------------------------------------------------- events
    if len(esub):  # whole columns (element-wise conversions), then the rows
        ev_value = ev["value"]
        e_val_all = as_float(ev_value)
        e_val = e_val_all[esub.rows]
        e_txt_bad = _nonnumeric_text(ev_value, e_val_all)[esub.rows]
    else:
        e_val, e_txt_bad = np.zeros(0), np.zeros(0, bool)

    def subset_text(column: str, events: tuple[str, ...]
                    ) -> tuple[npt.NDArray[np.intp], list[str]]:
        """Normalised text codes of ``column``, read only on the rows of ``events``."""
        parts = [e_groups[e] for e in events if e in e_groups]
        rows = np.concatenate(parts) if parts else np.zeros(0, np.intp)
        if rows.size:
            codes, names = _norm_text(esub.texts(column)[esub.rows[rows]])
        else:
            codes, names = np.zeros(0, np.intp), [""]
        full = np.full(len(esub), len(names) - 1, dtype=np.intp)  # '' elsewhere
        full[rows] = codes
        return full, names

    d_codes, d_names = subset_text("detail", (
        "vasopressor", "vasopressor_hours", "oxygen", "death", "organ_toxicity", "consciousness",
        "seizure", "cerebral_edema"))
    u_codes2, u_names = subset_text("unit", ("vasopressor", "fio2"))
    d_arr = np.asarray(d_names, dtype=object)

    # rows of each event kept for grading (a day from start_day on), by name: computed once
    # for the names present, as the usual day names only a few
    e_kept = {name: r[e_pos[r] >= 0] for name, r in e_groups.items()}
    no_rows = np.zeros(0, np.intp)
    no_rows.setflags(write=False)

    def rows_of(name: str) -> npt.NDArray[np.intp]:
        return e_kept.get(name, no_rows)

    def mapped(rows: npt.NDArray[np.intp], table: dict[str, int], default: int = -1) -> I64:
        lut = np.array([table.get(d, default) for d in d_names], dtype=np.int64)
        return lut[d_codes[rows]]

    has_icans = np.zeros(n, dtype=bool)
    has_vitals = has_crs.copy()  # temperature / SBP observations so far
    for name in e_kept.keys() & CRS_EVENTS:
        has_crs[e_pos[rows_of(name)]] = True
    for name in e_kept.keys() & VITAL_EVENTS:
        has_vitals[e_pos[rows_of(name)]] = True
    for name in e_kept.keys() & ICANS_EVENTS:
        has_icans[e_pos[rows_of(name)]] = True

    # text in a numeric value cell is an error for every event that has a numeric value (a
    # tuple: the problems come in this order, not in a set's order, which changes with the
    # interpreter's hash seed)
    numeric_events = ("vasopressor", "vasopressor_hours", "oxygen", "fio2", "ice", "capd",
                      "organ_toxicity", "hypotension", "motor_weakness")
    for name in numeric_events:
        if name not in e_kept:
            continue
        r = rows_of(name)
        r = r[e_txt_bad[r]]
        target = icans_problem if name in ICANS_EVENTS else (
            organ_problem if name == "organ_toxicity" else crs_problem)
        flag(target, "events", esub, r, e_pos, "value", f"{name}: value is not a number",
             "a number", "value")

    # hypotension
    r = rows_of("hypotension")
    hypo_event = np.zeros(n, dtype=bool)
    r = r[~(e_val[r] == 0)]
    hypo_event[e_pos[r]] = True

    # treatments
    treated_today = np.zeros(n, dtype=bool)
    for name in ("tocilizumab", "corticosteroid"):
        treated_today[e_pos[rows_of(name)]] = True
    antipyretic_today = np.zeros(n, dtype=bool)
    antipyretic_today[e_pos[rows_of("antipyretic")]] = True

    # vasopressors
    press = _vasopressors(rows_of("vasopressor"), rows_of("vasopressor_hours"), esub, e_pos,
                          e_val, d_codes, d_names, u_codes2, u_names, patient, weight, n,
                          settings, flag, crs_problem, notes)

    # oxygen
    o2_any = np.zeros(n, dtype=bool)
    o2_rank = np.zeros(n, dtype=np.int8)
    vent = np.zeros(n, dtype=np.int8)
    fio2_dev = np.full(n, np.nan)
    r = rows_of("oxygen")
    if r.size:
        dev_lut = [(_DEVICE_ALIASES.get(d, d)) for d in d_names]
        dev_idx = np.array([DEVICES.index(d) if d in DEVICES else (-2 if d == "" else -1)
                            for d in dev_lut], dtype=np.int64)[d_codes[r]]
        flow = e_val[r]
        no_dev = dev_idx == -2
        flag(crs_problem, "events", esub, r[no_dev], e_pos, "detail",
             "oxygen without a device (flow alone does not say low or high flow)",
             ", ".join(DEVICES), "detail")
        unknown = dev_idx == -1
        flag(crs_problem, "events", esub, r[unknown], e_pos, "detail", "unknown oxygen device",
             ", ".join(DEVICES), "detail")
        bad_flow = np.isfinite(flow) & ((flow < 0) | (flow > 80))
        flag(crs_problem, "events", esub, r[bad_flow], e_pos, "value",
             "oxygen flow outside 0-80 L/min", "0-80 L/min", "value")
        ra_flow = (dev_idx == 0) & np.isfinite(flow) & (flow > 0)
        flag(crs_problem, "events", esub, r[ra_flow], e_pos, "value",
             "room air with an oxygen flow", "no flow on room air", "value")
        good = (dev_idx >= 0) & ~bad_flow & ~ra_flow
        rg, dv, fl = r[good], dev_idx[good], flow[good]
        lowmax = settings.low_flow_max_l_min
        rank = select(
            [dv == 0, dv == 2,
             dv == 1,
             dv == 4,
             (dv == 3) | (dv == 5) | (dv == 6),
             dv >= 7],
            [0, 2,
             np.where(np.isfinite(fl) & (fl > lowmax), 3, 2),
             np.where((settings.facemask_at_low_flow == "by_flow") & np.isfinite(fl)
                      & (fl <= lowmax), 2, 3),
             3, 4], 0).astype(np.int8)
        np.maximum.at(o2_rank, e_pos[rg], rank)
        o2_any[e_pos[rg[dv > 0]]] = True
        vlev = np.where(dv == 9, 2, np.where(dv >= 7, 1, 0)).astype(np.int8)
        np.maximum.at(vent, e_pos[rg], vlev)
        if settings.estimate_fio2_from_flow:
            est = select([(dv == 1) & np.isfinite(fl), (dv == 2) & np.isfinite(fl),
                             dv == 2, dv == 5, dv == 0],
                            [0.21 + 0.04 * fl, 0.21 + 0.04 * fl, 0.25, 0.60, 0.21], np.nan)
        else:
            est = np.where(dv == 0, 0.21, np.nan)
        # unknown estimate must win over a known one on the same day: track separately
        unknown_est = np.zeros(n, dtype=bool)
        unknown_est[e_pos[rg[np.isnan(est) & (dv > 0) & (dv < 7)]]] = True
        np.fmax.at(fio2_dev, e_pos[rg], est)
        fio2_dev[unknown_est] = np.nan
    # recorded FiO2
    fio2_rec = np.full(n, np.nan)
    r = rows_of("fio2")
    if r.size:
        val = e_val[r]
        unit = np.asarray(u_names, dtype=object)[u_codes2[r]]
        pct = (unit == "%") | (unit == "percent") | ((unit == "") & (val > 1.0) & (val >= 21.0))
        frac = (unit == "fraction") | ((unit == "") & (val <= 1.0))
        known_unit = (unit == "") | (unit == "%") | (unit == "percent") | (unit == "fraction")
        f = np.where(pct, val / 100.0, np.where(frac, val, np.nan))
        bad_unit = ~known_unit
        flag(crs_problem, "events", esub, r[bad_unit], e_pos, "unit", "unknown FiO2 unit",
             "'%', 'fraction' or empty", "unit")
        amb = known_unit & np.isfinite(val) & np.isnan(f)
        flag(crs_problem, "events", esub, r[amb], e_pos, "value",
             "FiO2 between 1 and 21 without a unit is neither a fraction nor a percentage",
             "a fraction 0.21-1 or a percentage 21-100", "value")
        out = np.isfinite(f) & ((f < 0.20) | (f > 1.0))
        flag(crs_problem, "events", esub, r[out], e_pos, "value", "FiO2 outside 21-100 %",
             "a fraction 0.21-1 or a percentage 21-100", "value")
        ok = np.isfinite(f) & ~out
        np.fmax.at(fio2_rec, e_pos[r[ok]], f[ok])
        o2_any[e_pos[r[ok & (f > 0.215)]]] = True
    fio2 = np.where(np.isfinite(fio2_rec), fio2_rec, fio2_dev)
    fio2 = np.where(~o2_any & np.isnan(fio2), 0.21, fio2)

    # organ toxicity
    organ = {"liver": np.zeros(n, np.int8), "kidney": np.zeros(n, np.int8),
             "other": np.zeros(n, np.int8)}
    r = rows_of("organ_toxicity")
    if r.size:
        g = e_val[r]
        bad = ~(np.isfinite(g) & (g >= 0) & (g <= 5) & (g == np.round(g)))
        flag(organ_problem, "events", esub, r[bad & ~e_txt_bad[r]], e_pos, "value",
             "organ toxicity grade must be an integer 0-5 (CTCAE)", "0-5", "value")
        org_lut = np.array([0 if d in _LIVER else 1 if d in _KIDNEY else 2 for d in d_names])
        o = org_lut[d_codes[r]]
        for k, key in enumerate(("liver", "kidney", "other")):
            sel = ~bad & (o == k)
            np.maximum.at(organ[key], e_pos[r[sel]], g[sel].astype(np.int8))

    # death
    death = np.zeros(n, dtype=np.int8)
    r = rows_of("death")
    if r.size:
        cause = mapped(r, DEATH_CAUSES, default=4)
        unknown = (cause == 4) & (d_arr[d_codes[r]] != "")
        flag(crs_problem, "events", esub, r[unknown], e_pos, "detail", "unknown cause of death",
             ", ".join(DEATH_CAUSES), "detail")
        # several death rows on one day: CRS/ICANS wins over other, unknown wins over none
        order = np.array([0, 4, 3, 1, 2])  # priority of codes 0..4
        pri = np.zeros(n, dtype=np.int8)
        np.maximum.at(pri, e_pos[r], order[cause].astype(np.int8))
        inv = np.array([0, 3, 4, 2, 1])
        death = inv[pri].astype(np.int8)

    # ICANS domains
    ice = np.full(n, np.nan)
    capd = np.full(n, np.nan)
    for name, score, hi in (("ice", ice, 10), ("capd", capd, 32)):
        r = rows_of(name)
        if not r.size:
            continue
        v = e_val[r]
        bad = ~(np.isfinite(v) & (v >= 0) & (v <= hi) & (v == np.round(v)))
        flag(icans_problem, "events", esub, r[bad & ~e_txt_bad[r]], e_pos, "value",
             f"{name.upper()} score must be an integer 0-{hi}", f"0-{hi}", "value")
        np.fmin.at(score, e_pos[r[~bad]], v[~bad])
    loc = np.zeros(n, dtype=np.int8)
    seizure = np.zeros(n, dtype=np.int8)
    edema = np.zeros(n, dtype=np.int8)
    for name, dom, table in (("consciousness", loc, LOC_GRADE), ("seizure", seizure, SEIZURE_GRADE),
                             ("cerebral_edema", edema, EDEMA_GRADE)):
        r = rows_of(name)
        if not r.size:
            continue
        gi = mapped(r, table)
        flag(icans_problem, "events", esub, r[gi < 0], e_pos, "detail",
             f"{name}: missing or unknown detail", ", ".join(table), "detail")
        np.maximum.at(dom, e_pos[r[gi >= 0]], gi[gi >= 0].astype(np.int8))
    motor = np.zeros(n, dtype=bool)
    r = rows_of("motor_weakness")
    motor[e_pos[r[~(e_val[r] == 0)]]] = True

    # recorded grades
    recorded = _recorded(rows_of("crs_grade_recorded"), rows_of("icans_grade_recorded"), esub,
                         e_pos, e_val, ukeys, pid_index, problems)

    pat_age = age[patient] if n else np.zeros(0)
    feats = DailyFeatures(
        patient=patient.astype(np.int64), day=day.astype(np.int64), patient_ids=pid_index,
        tmax=tmax, sbp_min=sbp_min, sbp_limit=_pals_limit(age, settings)[patient],
        hypo_event=hypo_event, has_crs_info=has_crs, has_vitals=has_vitals,
        crs_problem=crs_problem,
        n_press_astct=press.n_astct, vasopressin=press.vaso, n_press_all=press.n_all,
        high_dose=press.high, pressor_hours=press.hours, ne_eq=press.ne_eq,
        o2_any=o2_any, o2_rank=o2_rank, vent=vent, fio2=fio2,
        treated_today=treated_today, antipyretic_today=antipyretic_today,
        organ_liver=organ["liver"], organ_kidney=organ["kidney"], organ_other=organ["other"],
        organ_problem=organ_problem, death=death, ice=ice, capd=capd, loc=loc,
        seizure=seizure, motor=motor, edema=edema, has_icans_info=has_icans,
        icans_problem=icans_problem, age=pat_age, messages=msgs.items)
    return Extraction(features=feats, problems=problems, recorded=recorded, notes=notes)


ANALYTE_RANGE: Final = {"temp": (25.0, 45.0, "C"), "sbp": (20.0, 300.0, "mmHg")}


@dataclass
class _Pressors:
    n_astct: I8
    vaso: B
    n_all: I8
    high: I8
    hours: F8
    ne_eq: F8


def _vasopressors(rows: npt.NDArray[np.intp], hrows: npt.NDArray[np.intp], esub: _Rows,
                  e_pos: I64, e_val: F8, d_codes: npt.NDArray[np.intp], d_names: list[str],
                  u_codes: npt.NDArray[np.intp], u_names: list[str], patient: I64, weight: F8,
                  n: int, settings: GradingSettings, flag: object,
                  crs_problem: npt.NDArray[np.int32], notes: list[str]) -> _Pressors:
    out = _Pressors(np.zeros(n, np.int8), np.zeros(n, bool), np.zeros(n, np.int8),
                    np.zeros(n, np.int8), np.full(n, np.nan), np.zeros(n))
    if rows.size == 0 and hrows.size == 0:
        return out
    assert callable(flag)
    agent_lut = np.array([agent_index(d) for d in d_names], dtype=np.int64)
    a_dose = agent_lut[d_codes[rows]]
    a_hours = agent_lut[d_codes[hrows]]
    for rr, aa, what in ((rows, a_dose, "vasopressor"), (hrows, a_hours, "vasopressor_hours")):
        flag(crs_problem, "events", esub, rr[aa < 0], e_pos, "detail",
             f"{what}: missing or unknown agent", ", ".join(AGENTS), "detail")

    # doses -> canonical unit per agent
    dose = e_val[rows]
    unit_norm = [DOSE_UNIT_FORMS.get(u.replace("_", ""), "?" if u else "") for u in u_names]
    unit_kinds = sorted(set(unit_norm))
    un_code = np.array([unit_kinds.index(u) for u in unit_norm], dtype=np.int64)[u_codes[rows]]
    un = np.asarray(unit_kinds, dtype=object)[un_code]
    canon = np.full(rows.size, np.nan)
    bad_unit = np.zeros(rows.size, dtype=bool)
    no_unit = np.isfinite(dose) & (un == "")
    flag(crs_problem, "events", esub, rows[no_unit & (a_dose >= 0)], e_pos, "unit",
         "vasopressor dose without a unit", "ug/min, ug/kg/min or U/min", "unit")
    neg = np.isfinite(dose) & (dose < 0)
    flag(crs_problem, "events", esub, rows[neg], e_pos, "value", "negative vasopressor dose",
         "a dose >= 0", "value")
    w = weight[patient[np.maximum(e_pos[rows], 0)]] if rows.size else np.zeros(0)
    need_weight_missing = 0
    for pair in sorted(set((a_dose * 64 + un_code).tolist())):  # np.unique's order
        ag, u = int(pair // 64), unit_kinds[int(pair % 64)]
        if ag < 0 or u == "":
            continue
        sel = (a_dose == ag) & (un_code == pair % 64)
        fac = dose_factor(ag, u) if u != "?" else None
        if fac is None:
            bad_unit |= sel
            continue
        scale, wuse = fac
        if wuse == "mul":
            canon[sel] = dose[sel] * scale * w[sel]
        elif wuse == "div":
            canon[sel] = dose[sel] * scale / w[sel]
        else:
            canon[sel] = dose[sel] * scale
        if wuse:
            need_weight_missing += int(np.count_nonzero(sel & ~np.isfinite(w)))
    flag(crs_problem, "events", esub, rows[bad_unit], e_pos, "unit",
         "vasopressor dose unit not valid for this agent", "ug/min or ug/kg/min "
         "(vasopressin: U/min or U/h)", "unit")
    if need_weight_missing:
        notes.append(f"{need_weight_missing} vasopressor dose(s) need body weight to convert "
                     "between ug/min and ug/kg/min and the patient has no weight_kg: "
                     "norepinephrine equivalents (older scales) are unknown on those days")
    good = (a_dose >= 0) & ~bad_unit & ~neg & ~no_unit
    # per (day, agent) tables over pressor days only
    pos_all = np.concatenate([e_pos[rows[good]], e_pos[hrows[a_hours >= 0]]])
    on_day = np.zeros(n, dtype=bool)
    on_day[pos_all] = True
    pdays = np.flatnonzero(on_day)
    m = pdays.size
    present = np.zeros((m, len(AGENTS)), dtype=bool)
    dmax = np.full((m, len(AGENTS)), np.nan)
    dunknown = np.zeros((m, len(AGENTS)), dtype=bool)
    hmax = np.full((m, len(AGENTS)), np.nan)
    pi = np.searchsorted(pdays, e_pos[rows[good]])
    ag = a_dose[good]
    present[pi, ag] = True
    cg = canon[good]
    np.fmax.at(dmax, (pi, ag), cg)
    dunknown[pi[np.isnan(cg)], ag[np.isnan(cg)]] = True
    hg = hrows[a_hours >= 0]
    hi = np.searchsorted(pdays, e_pos[hg])
    ha = a_hours[a_hours >= 0]
    hv = e_val[hg]
    badh = np.isfinite(hv) & ((hv < 0) | (hv > 24))
    flag(crs_problem, "events", esub, hg[badh], e_pos, "value",
         "vasopressor hours outside 0-24 h per day", "0-24 h", "value")
    present[hi[~badh], ha[~badh]] = True
    np.fmax.at(hmax, (hi[~badh], ha[~badh]), hv[~badh])
    dose_known = present & ~dunknown & np.isfinite(dmax)

    inot = np.zeros(len(AGENTS), dtype=bool)
    inot[list(INOTROPES)] = True
    counted = present & (~inot if not settings.inotropes_are_vasopressors else True)
    non_vaso = counted.copy()
    non_vaso[:, _VASO] = False
    n_astct = non_vaso.sum(axis=1)
    vaso = present[:, _VASO]
    n_all = counted.sum(axis=1)

    # norepinephrine equivalents (VASST) over NE, dopamine, epinephrine, phenylephrine
    coef = np.zeros(len(AGENTS))
    coef[[_NE, _DOPA, _EPI, _PHE]] = [1.0, 0.5, 1.0, 0.1]
    in_formula = coef > 0
    contrib = np.where(present & in_formula, np.nan_to_num(dmax) * coef, 0.0)
    unknown_dose = (present & in_formula & ~dose_known).any(axis=1)
    ne_eq = np.where(unknown_dose, np.nan, contrib.sum(axis=1))
    others = n_all - vaso.astype(np.int64)
    # dose criterion (tri-state as float: 1, 0, nan)
    single_idx = np.argmax(counted, axis=1)
    thr = np.array([HIGH_DOSE_SINGLE.get(i, np.inf) for i in range(len(AGENTS))])
    single_dose = dmax[np.arange(m), single_idx]
    single_hi = np.where(np.isfinite(single_dose), (single_dose >= thr[single_idx]).astype(float),
                         np.where(np.isinf(thr[single_idx]), 0.0, np.nan))
    dose_hi = select(
        [n_all == 0, vaso & (others >= 1), (~vaso) & (others >= 2), n_all == 1],
        [0.0, np.where(np.isnan(ne_eq), np.nan, (ne_eq >= 10.0).astype(float)),
         np.where(np.isnan(ne_eq), np.nan, (ne_eq >= 20.0).astype(float)), single_hi],
        0.0)
    # duration criterion: every counted agent sustained >= high_dose_hours
    hrs_ok = np.where(counted, hmax >= settings.high_dose_hours, True)
    hrs_unknown = (counted & np.isnan(hmax)).any(axis=1)
    hrs_short = (counted & np.isfinite(hmax) & ~hrs_ok).any(axis=1)
    dur = np.where(hrs_short, 0.0, np.where(hrs_unknown, np.nan, 1.0))
    high = np.where((dose_hi == 0) | (dur == 0), 0,
                    np.where(np.isnan(dose_hi) | np.isnan(dur), -1, 1))
    out.n_astct[pdays] = n_astct.astype(np.int8)
    out.vaso[pdays] = vaso
    out.n_all[pdays] = n_all.astype(np.int8)
    out.high[pdays] = high.astype(np.int8)
    hours = np.where(counted, hmax, np.nan)
    any_unknown_h = (counted & np.isnan(hmax)).any(axis=1)
    # (no NaN is left to skip: max is nanmax here, without its copies)
    out.hours[pdays] = np.where(any_unknown_h, np.nan,
                                np.where(counted, np.nan_to_num(hours), 0.0).max(axis=1)
                                if m else np.zeros(0))
    out.ne_eq[pdays] = ne_eq
    return out


def _recorded(crs_rows: npt.NDArray[np.intp], icans_rows: npt.NDArray[np.intp],
              esub: _Rows, e_pos: I64, e_val: F8, ukeys: I64, pid_index: pd.Index,
              problems: list[Problem]) -> Recorded:
    """The centre's recorded grades (:class:`Recorded`) of the valid recorded-grade rows."""
    parts: list[tuple[str, npt.NDArray[np.intp]]] = []
    for kind, r in (("crs", crs_rows), ("icans", icans_rows)):
        if not r.size:
            continue
        g = e_val[r]
        bad = ~(np.isfinite(g) & (g >= 0) & (g <= 5) & (g == np.round(g)))
        for i in r[bad][:200]:
            problems.append(Problem(table="events", row=esub.label(int(i)), column="value",
                                    message=f"{kind}_grade_recorded must be an integer 0-5",
                                    value=str(esub.cell("value", int(i))), expected="0-5",
                                    code="grading_input"))
        parts.append((kind, r[~bad]))
    if not parts or not sum(r.size for _, r in parts):
        none = np.zeros(0, dtype=np.int64)
        text = np.zeros(0, dtype=object)
        return Recorded(pos=none, kind=text, patient_id=text, day=none, grade=none, system=text)
    # plain arrays and one stable sort (a pandas groupby costs more than the grading of a
    # patient): rows of one (position, kind) are consecutive in their original order
    r_all = np.concatenate([r for _, r in parts])
    kind_code = np.concatenate([np.full(r.size, 0 if kind == "crs" else 1, dtype=np.int64)
                                for kind, r in parts])
    pos = e_pos[r_all].astype(np.int64)
    order = np.lexsort((kind_code, pos))
    pos, kind_code, r_all = pos[order], kind_code[order], r_all[order]
    start = np.ones(pos.size, dtype=bool)
    start[1:] = (pos[1:] != pos[:-1]) | (kind_code[1:] != kind_code[:-1])
    first = np.flatnonzero(start)
    k = ukeys[pos[first]]
    detail = esub.texts("detail")[esub.rows[r_all[first]]]
    return Recorded(
        pos=pos[first], kind=np.array(["crs", "icans"], dtype=object)[kind_code[first]],
        patient_id=np.asarray(pid_index.to_numpy(dtype=object)[k // _SPAN], dtype=object),
        day=(k % _SPAN + _DAY0).astype(np.int64),
        grade=np.maximum.reduceat(e_val[r_all].astype(np.int64), first),
        system=np.array([_cell(v).strip().lower() for v in detail], dtype=object))


def add_history(f: DailyFeatures, settings: GradingSettings) -> None:
    """Fill the history columns (CRS established, treated, fever episode, vasopressor runs).

    Days are sorted by patient then day, so per-patient cumulative flags are cumulative sums
    minus the sum at the start of the patient's block.
    """
    n = f.n
    if n == 0:
        z = np.zeros(0, dtype=bool)
        f.established, f.treated, f.waiver_recent, f.episode = z, z, z, z
        f.pressor_run_hours = np.zeros(0)
        return
    start = np.ones(n, dtype=bool)
    start[1:] = f.patient[1:] != f.patient[:-1]
    block = np.cumsum(start) - 1
    first_idx = np.flatnonzero(start)

    def cum_any(x: B) -> B:
        cs = np.cumsum(x.astype(np.int64))
        before = (cs - x)[first_idx][block]
        return np.asarray(cs - before > 0)

    febrile = f.tmax >= settings.fever_c
    f.established = cum_any(febrile)
    f.episode = f.established
    tx = f.treated_today | (f.antipyretic_today if settings.antipyretics_waive_fever else False)
    f.treated = cum_any(np.asarray(tx, dtype=bool))
    if settings.fever_waiver_days is None:
        f.waiver_recent = np.ones(n, dtype=bool)
    else:
        last = pd.Series(np.where(febrile, f.day, np.nan)).groupby(block).ffill().to_numpy()
        f.waiver_recent = np.asarray((f.day - last) <= settings.fever_waiver_days)
    # consecutive vasopressor hours (MSKCC)
    on = f.n_press_all > 0
    prev_same = np.zeros(n, dtype=bool)
    prev_same[1:] = (~start[1:]) & on[:-1] & (f.day[1:] == f.day[:-1] + 1)
    run_start = on & ~prev_same
    # a NaN (unknown hours) earlier in the run makes the running total unknown
    f.pressor_run_hours = np.where(on, _run_cumsum(f.pressor_hours, on, run_start), 0.0)


def _run_cumsum(values: F8, on: B, run_start: B) -> F8:
    """Running sum of ``values`` over each run of consecutive ``on`` days (a run begins at
    ``run_start``), NaN from the first NaN of the run on; 0 off the runs.

    The sum is compensated (Kahan) as pandas' ``groupby(...).cumsum(skipna=False)`` is, which
    this replaces: a plain loop over the (few) vasopressor days costs less than a groupby,
    with the same floating-point result.
    """
    out = np.zeros(values.shape[0])
    idx = np.flatnonzero(on)
    if idx.size == 0:
        return out
    acc = comp = 0.0
    for i, v, new in zip(idx.tolist(), values[idx].tolist(), run_start[idx].tolist(),
                         strict=True):
        if new:
            acc = comp = 0.0
        if math.isnan(acc) or math.isnan(v):
            acc = math.nan
        else:
            y = v - comp
            t = acc + y
            comp = t - acc - y
            acc = t
        out[i] = acc
    return out
