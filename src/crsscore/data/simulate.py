"""A simulated B-ALL anti-CD19 CAR-T cohort in the canonical format (always labelled synthetic).

No patient data from the source study (Ke et al., Curr Med Sci 2025) exist, so crsscore ships a
generative model tuned to the study's published summary figures: any CRS 67.2 %, severe CRS
(ASTCT >= 3) 13.6 %, higher baseline and post-lymphodepletion MRD, day-7 neutropenia and
higher day-7 CRP, ferritin, IL-6 and APTT associated with severe CRS, and an apparent AUC of
a seven-candidate logistic model near 0.875 at n = 125.

The simulator writes RAW data (daily temperature, blood pressure, SpO2, vasopressors, oxygen
device and flow, tocilizumab, corticosteroids, ICANS assessments, laboratory values with timing
noise and missing values): the CRS grade is not stored as a column but follows from the raw
events through the grading engine, so the whole path raw data -> grade -> outcome -> score is
exercised.  Patients with CRS (ICANS) also get one ``crs_grade_recorded``
(``icans_grade_recorded``) event on the first day at their worst grade, as a centre records it.

Generative model (every random step from ``np.random.default_rng(seed)``; see
docs/simulator.md for the numbers):

1. Covariates: age (25 % children 3-17 y), sex, weight (age dependent), prior lines, prior
   HSCT, bridging, costimulatory domain (CD28 / 4-1BB), dose, infusion date (2017-2023), bone
   marrow MRD before lymphodepletion as % of nucleated cells (20 % MRD-negative, recorded as
   ``mrd_negative_value`` = 0 by default; positives log-normal, median ~3 %, floor 0.001 %),
   MRD after lymphodepletion (lower, more negatives), morphological marrow blasts.
2. A latent CRS severity ``Y = 0.20 log10 MRD_base + 0.15 log10 MRD_postLD + 0.35 CD28
   + 0.25 log(dose / 10^6) + u``, ``u ~ N(0, 1)`` (log10 MRD floored at 0.001 %).  The peak
   ASTCT grade is an ordinal cut of ``Y``; the cut-points are quantiles of a fixed reference
   sample of ``Y`` (200,000 draws, fixed internal seed) so that the grade distribution
   matches the targets in expectation (``any_crs_rate``, ``severe_rate``, ``grade5_rate``).
3. The daily CRS course: onset, peak day, days at peak.  Grade >= 3 begins on a log-normal
   day (median 4.5, mostly days 2-8), preceded by 0-3 days of fever (grade 1) and a grade-2
   day; grade 5 is a CRS death at the end of a grade-4 peak.
4. Raw events per day from the daily grade: fever >= 38.0 C before treatment (afterwards only
   sometimes: tocilizumab masks fever, ASTCT then grades from hypotension/hypoxia), fluid
   responsive hypotension or low-flow oxygen (grade 2), one vasopressor (with or without
   vasopressin) or high-flow / facemask oxygen (grade 3), two vasopressors or positive pressure
   ventilation (grade 4); tocilizumab 8 mg/kg (max 800 mg) at the first grade >= 2 day,
   corticosteroids on grade >= 3 days; ICANS assessments (ICE or CAPD, consciousness,
   seizures, oedema) for monitored patients; deaths with their cause.
5. Laboratory values (day -5 to day +28, morning draws with timing noise, some outside the
   nominal window, some missing): log-scale analytes follow ``baseline + beta * I(t)`` where
   ``I(t)`` is the patient's inflammation curve (amplitude rising with ``Y``), plus a shared
   non-CRS inflammation factor and measurement noise.  Tocilizumab makes CRP fall and IL-6
   rise; lymphodepletion drives the neutrophil nadir, deeper with severe CRS.

All values are in canonical units (:mod:`crsscore.units`).  The whole simulator is vectorised
(100,000 patients, ~25 million observation rows, in 15-25 s on a shared 2-core machine,
mostly frame assembly); :func:`simulate_batch` runs many seeds in one call, each cohort
identical to ``simulate(n, seed)``.  Measured targets: docs/simulator.md.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from scipy import special

from crsscore._types import BoolArray, FloatArray, IntArray
from crsscore.data.cohort import Cohort
from crsscore.data.schema import ANALYTES, PATIENT_COLUMNS, SYNTHETIC_NOTE
from crsscore.units import canonical_unit

#: Detection floor of MRD (10^-5 of nucleated cells, in %): log10 MRD uses it for negatives.
MRD_FLOOR: Final = 0.001
#: Reference sample used to place the grade cut-points (fixed, independent of ``seed``).
_REFERENCE_N: Final = 200_000
_REFERENCE_SEED: Final = 20250910

#: Nominal laboratory schedule (days since infusion) of the core panel and the cytokine panel.
CORE_SCHEDULE: Final = (-5, 0, 1, 3, 5, 7, 10, 14, 21, 28)
CYTOKINE_SCHEDULE: Final = (-5, 1, 3, 5, 7, 14)
CORE_LABS: Final = ("anc", "wbc", "alc", "hb", "plt", "crp", "ferritin", "il6", "ldh",
                    "creatinine", "aptt", "pt", "fibrinogen", "ddimer", "albumin")
CYTOKINE_LABS: Final = ("ifng", "il10", "mcp1")
#: Option ``daily_labs``: these analytes are also drawn every morning of days 1-14 that have
#: no scheduled draw (the daily monitoring a dynamic model needs).
DAILY_LABS: Final = ("crp", "ferritin", "il6")
DAILY_LAB_DAYS: Final = tuple(d for d in range(1, 15) if d not in CORE_SCHEDULE)
VITALS: Final = ("temp", "sbp", "spo2")


@dataclass(frozen=True)
class SimulationOptions:
    """Options of :func:`simulate_cohort` (pass them as keywords).

    Rates are targets in expectation over seeds; ``grade4_share`` is the share of grade 4 among
    non-fatal severe CRS and ``grade2_share`` the share of grade 2 among non-severe CRS.
    """

    any_crs_rate: float = 0.672
    severe_rate: float = 0.136
    grade5_rate: float = 0.006
    grade4_share: float = 0.35
    grade2_share: float = 0.40
    mrd_negative_rate: float = 0.20
    mrd_negative_value: float = 0.0
    lab_missing_rate: float = 0.03
    missed_draw_rate: float = 0.03
    out_of_window_rate: float = 0.06
    cytokine_panel_rate: float = 0.70
    icans_monitoring_rate: float = 0.40
    other_death_rate: float = 0.01
    afebrile_hypotension_rate: float = 0.03
    record_grades: bool = True
    daily_labs: bool = False
    recorded_series_rate: float = 0.0
    recorded_stop_at_severe: float = 0.5
    first_day: int = -5
    last_day: int = 28
    centre: str = "SIM"
    id_prefix: str = "SIM"

    def __post_init__(self) -> None:
        rates = ("any_crs_rate", "severe_rate", "grade5_rate", "grade4_share", "grade2_share",
                 "mrd_negative_rate", "lab_missing_rate", "missed_draw_rate",
                 "out_of_window_rate", "cytokine_panel_rate", "icans_monitoring_rate",
                 "other_death_rate", "afebrile_hypotension_rate", "recorded_series_rate",
                 "recorded_stop_at_severe")
        for name in rates:
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"The '{name}' option of simulate_cohort must be in [0, 1]. "
                                 f"Got {v!r} instead.")
        if not self.grade5_rate <= self.severe_rate <= self.any_crs_rate:
            raise ValueError("simulate_cohort needs grade5_rate <= severe_rate <= any_crs_rate; "
                             f"got {self.grade5_rate}, {self.severe_rate}, {self.any_crs_rate}")
        if not 0.0 <= self.mrd_negative_value <= MRD_FLOOR:
            raise ValueError("The 'mrd_negative_value' option must be between 0 and the "
                             f"detection floor {MRD_FLOOR} %. Got {self.mrd_negative_value!r}.")
        if not (self.first_day <= -5 and self.last_day >= 14):
            raise ValueError("simulate_cohort needs first_day <= -5 and last_day >= 14; got "
                             f"{self.first_day}, {self.last_day}")

    @classmethod
    def from_kwargs(cls, **options: Any) -> SimulationOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"simulate_cohort got unknown option(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
        return cls(**options)

    @property
    def grade_probabilities(self) -> FloatArray:
        """P(peak grade = 0..5)."""
        sev_nf = self.severe_rate - self.grade5_rate
        mild = self.any_crs_rate - self.severe_rate
        p = np.array([1.0 - self.any_crs_rate, mild * (1 - self.grade2_share),
                      mild * self.grade2_share, sev_nf * (1 - self.grade4_share),
                      sev_nf * self.grade4_share, self.grade5_rate])
        return p


@dataclass(frozen=True)
class Simulation:
    """A simulated cohort and the generator's truth (never part of the cohort tables).

    ``truth`` has one row per patient: ``patient_id``, ``latent_severity`` (Y),
    ``crs_max_grade``, ``crs_onset_day``, ``crs_severe_onset_day``, ``severe_crs``,
    ``icans_max_grade``, ``death_day``, ``death_cause``.  ``daily_grade`` is the intended ASTCT
    CRS grade per patient (rows) and day (columns ``days``); -1 after death.
    """

    cohort: Cohort
    truth: pd.DataFrame
    daily_grade: npt.NDArray[np.int8]
    days: IntArray
    options: SimulationOptions
    seed: int

    def daily_frame(self) -> pd.DataFrame:
        """The intended daily grade as a long frame (patient_id, day, crs_grade), alive days."""
        n, d = self.daily_grade.shape
        alive = self.daily_grade >= 0
        pid = np.repeat(self.truth["patient_id"].to_numpy(dtype=object), d).reshape(n, d)
        day = np.broadcast_to(self.days, (n, d))
        return pd.DataFrame({"patient_id": pd.Series(pid[alive], dtype="str"),
                             "day": day[alive].astype(np.int64),
                             "crs_grade": self.daily_grade[alive].astype(np.int64)})


# --------------------------------------------------------------------------------------------
# covariates and latent severity
# --------------------------------------------------------------------------------------------

#: Effects of the latent-severity model and of severity on the laboratory values.
_EFFECTS: Final[dict[str, float]] = {
    "mrd_baseline": 0.20,  # per log10 % MRD before lymphodepletion
    "mrd_post_ld": 0.15,  # per log10 % MRD after lymphodepletion
    "cd28": 0.35,
    "log_dose": 0.25,
    "amp_slope": 0.8,  # inflammation amplitude = exp(slope * (z + e - 1.1)), z = score of Y
    "amp_noise": 2.0,  # sd of e: inflammation not explained by the severity
    "amp_max": 1.5,  # saturation of the amplitude
}


@dataclass(frozen=True)
class _Covariates:
    age: FloatArray
    male: BoolArray
    weight: FloatArray
    prior_lines: IntArray
    prior_hsct: BoolArray
    bridging: BoolArray
    cd28: BoolArray
    dose: FloatArray
    date_offset: IntArray
    mrd_base: FloatArray  # % with negatives at 0
    mrd_post: FloatArray
    blasts: FloatArray
    u: FloatArray

    @property
    def latent(self) -> FloatArray:
        lb = np.log10(np.maximum(self.mrd_base, MRD_FLOOR))
        lp = np.log10(np.maximum(self.mrd_post, MRD_FLOOR))
        c = _EFFECTS
        y: FloatArray = (c["mrd_baseline"] * lb + c["mrd_post_ld"] * lp + c["cd28"] * self.cd28
                         + c["log_dose"] * np.log(self.dose / 1e6) + self.u)
        return y


def _covariates(rng: _Rng, n: int, opt: SimulationOptions) -> _Covariates:
    child = rng.random() < 0.25
    age = np.where(child, rng.uniform(3.0, 18.0), 18.0 + 11.0 * rng.gamma(2.0))
    age = _rnd(np.clip(age, 3.0, 76.0), 1)
    male = rng.random() < 0.58
    w_child = (9.0 + 2.7 * age) * np.exp(rng.normal(0.0, 0.15))
    w_adult = np.where(male, 66.0, 56.0) + rng.normal(0.0, 10.0)
    weight = _rnd(np.clip(np.where(age < 18, w_child, w_adult), 12.0, 130.0), 1)
    prior_lines = np.minimum(1 + rng.poisson(1.6), 10).astype(np.int64)
    prior_hsct = rng.random() < np.where(age < 18, 0.12, 0.22)
    bridging = rng.random() < 0.45
    cd28 = rng.random() < 0.35
    dose = _rnd(1e6 * np.exp(rng.normal(0.0, 0.45)), -4)
    date_offset = rng.integers(0, 2494)  # 2017-01-01 .. 2023-10-31
    # MRD before lymphodepletion, % of nucleated marrow cells.
    neg = rng.random() < opt.mrd_negative_rate
    pos = 10.0 ** np.clip(rng.normal(0.45, 1.1), -3.0, np.log10(95.0))
    mrd_base = np.where(neg, opt.mrd_negative_value, _rnd(pos, 3))
    mrd_base = np.where(~neg & (mrd_base < MRD_FLOOR), MRD_FLOOR, mrd_base)
    # After lymphodepletion: about 2.5-fold lower, more negatives.
    lpost = np.log10(np.maximum(mrd_base, MRD_FLOOR)) - 0.4 + rng.normal(0.0, 0.6)
    neg_post = neg & (rng.random() < 0.9) | (lpost < -3.0) | (rng.random() < 0.06)
    post = _rnd(10.0 ** np.clip(lpost, -3.0, np.log10(95.0)), 3)
    mrd_post = np.where(neg_post, opt.mrd_negative_value, np.maximum(post, MRD_FLOOR))
    blasts = np.where(mrd_base >= 1.0, mrd_base * np.exp(rng.normal(0.0, 0.3)),
                      rng.uniform(0.0, 2.0))
    blasts = _rnd(np.clip(blasts, 0.0, 99.0), 1)
    u = rng.normal(0.0, 1.0)
    return _Covariates(age, male, weight, prior_lines, prior_hsct, bridging, cd28, dose,
                       date_offset, mrd_base, mrd_post, blasts, u)


@functools.lru_cache(maxsize=16)
def _reference(opt: SimulationOptions) -> tuple[FloatArray, FloatArray]:
    """Sorted reference sample of Y and the grade cut-points (quantiles of that sample)."""
    ref = np.sort(_covariates(_Rng([_REFERENCE_SEED], _REFERENCE_N), _REFERENCE_N,
                              opt).latent)
    cum = np.cumsum(opt.grade_probabilities)[:-1]
    cuts = np.quantile(ref, np.clip(cum, 0.0, 1.0))
    return ref, cuts


def _rnd(x: npt.ArrayLike, decimals: int = 0) -> FloatArray:
    """``np.round`` typed as float64 (values are stored as reported, e.g. CRP to 0.1 mg/L)."""
    return np.asarray(np.round(np.asarray(x, dtype=np.float64), decimals), dtype=np.float64)


def _normal_score(y: FloatArray, ref: FloatArray) -> FloatArray:
    """Y mapped to a standard normal score through the reference distribution."""
    p = (np.searchsorted(ref, y) + 0.5) / (len(ref) + 1.0)
    z: FloatArray = special.ndtri(p)
    return z


# --------------------------------------------------------------------------------------------
# long-table assembly
# --------------------------------------------------------------------------------------------

def _str_column(codes: npt.ArrayLike, categories: list[str] | npt.NDArray[Any]) -> pd.Series:
    """A ``str`` Series from integer codes into ``categories`` (code -1 = missing); fast."""
    idx = np.asarray(codes, dtype=np.int32)
    mask = idx < 0
    arr = pa.DictionaryArray.from_arrays(pa.array(np.where(mask, 0, idx), mask=mask),
                                         pa.array([str(c) for c in categories], pa.string()))
    out: pd.Series = arr.dictionary_decode().to_pandas()
    return out


@dataclass
class _Long:
    """Accumulates long rows as (patient index, day, code, value, unit, detail) blocks."""

    names: list[str]
    pid: list[IntArray] = field(default_factory=list)
    day: list[FloatArray] = field(default_factory=list)
    code: list[IntArray] = field(default_factory=list)
    value: list[FloatArray] = field(default_factory=list)
    unit: list[IntArray] = field(default_factory=list)
    detail: list[IntArray] = field(default_factory=list)

    def add(self, pid: IntArray, day: FloatArray, name: str, value: npt.ArrayLike,
            unit: int | IntArray = -1, detail: int | IntArray = -1) -> None:
        m = len(pid)
        if m == 0:
            return
        self.pid.append(np.asarray(pid, dtype=np.int64))
        self.day.append(np.asarray(day, dtype=np.float64))
        self.code.append(np.full(m, self.names.index(name), dtype=np.int64))
        self.value.append(np.broadcast_to(np.asarray(value, dtype=np.float64), (m,)))
        self.unit.append(np.broadcast_to(np.asarray(unit, dtype=np.int64), (m,)))
        self.detail.append(np.broadcast_to(np.asarray(detail, dtype=np.int64), (m,)))

    def arrays(self) -> tuple[IntArray, FloatArray, IntArray, FloatArray, IntArray, IntArray]:
        if not self.pid:
            e = np.empty(0, dtype=np.int64)
            return e, e.astype(np.float64), e, e.astype(np.float64), e, e
        pid = np.concatenate(self.pid)
        day = np.concatenate(self.day)
        order = np.lexsort((day, pid))
        return (pid[order], day[order], np.concatenate(self.code)[order],
                np.concatenate(self.value)[order], np.concatenate(self.unit)[order],
                np.concatenate(self.detail)[order])


EVENT_UNITS: Final = ["mg", "ug/min", "ug/kg/min", "U/min", "h", "L/min", "%"]
EVENT_DETAILS: Final = ["fluids", "norepinephrine", "epinephrine", "dopamine", "phenylephrine",
                        "vasopressin", "nasal_cannula", "blow_by", "high_flow_nasal_cannula",
                        "facemask", "non_rebreather", "venturi", "cpap", "bipap",
                        "mechanical_ventilation", "tocilizumab", "dexamethasone",
                        "methylprednisolone", "spontaneous", "voice", "touch", "unarousable",
                        "resolved_rapidly", "prolonged", "focal", "diffuse", "crs", "icans",
                        "infection", "disease", "creatinine", "astct"]
EVENT_NAMES: Final = ["hypotension", "vasopressor", "vasopressor_hours", "oxygen", "fio2",
                      "tocilizumab", "corticosteroid", "ice", "capd", "consciousness",
                      "seizure", "cerebral_edema", "organ_toxicity", "death",
                      "crs_grade_recorded", "icans_grade_recorded"]


def _u(name: str) -> int:
    return EVENT_UNITS.index(name)


def _d(name: str) -> int:
    return EVENT_DETAILS.index(name)


# --------------------------------------------------------------------------------------------
# the simulator
# --------------------------------------------------------------------------------------------

def simulate_cohort(n: int = 125, seed: int = 1, **options: Any) -> Cohort:
    """Simulate a synthetic cohort of ``n`` patients (``Cohort.synthetic`` is True).

    Parameters
    ----------
    n : number of patients (infusions), >= 1.
    seed : seed of ``np.random.default_rng``; the same ``(n, seed, options)`` gives identical
        tables (and the same ``data_hash()``).
    **options : fields of :class:`SimulationOptions` (target rates, missingness, ...).

    Examples
    --------
    >>> c = simulate_cohort(20, seed=3)
    >>> c.synthetic, c.n_patients, int(c.patients["synthetic"].min())
    (True, 20, 1)
    """
    return simulate(n, seed, **options).cohort


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"The '{name}' parameter of simulate_cohort must be an integer >= "
                         f"{low}. Got {value!r} instead.")
    return int(value)


def simulate(n: int = 125, seed: int = 1, **options: Any) -> Simulation:
    """Like :func:`simulate_cohort`, also returning the generator's truth (intended grades)."""
    n = _check_int("n", n, 1)
    seed = _check_int("seed", seed, 0)
    opt = SimulationOptions.from_kwargs(**options)
    width = max(4, len(str(n)))
    ids = np.array([f"{opt.id_prefix}{i + 1:0{width}d}" for i in range(n)], dtype=object)
    return _simulate(_Rng([seed], n), ids, opt,
                     source=f"simulated: crsscore.data.simulate.simulate_cohort(n={n}, "
                            f"seed={seed})", seed=seed)


def simulate_batch(n: int, seeds: Sequence[int], **options: Any) -> Simulation:
    """Many cohorts in one vectorised call: cohort ``k`` is ``simulate(n, seeds[k])``.

    Patient ``i`` of cohort ``seed`` gets the id ``f"S{seed}-{id}"`` where ``id`` is its id in
    ``simulate(n, seed)``; every other value is identical (each cohort keeps its own random
    stream).  ``truth`` has an extra ``seed`` column.  Used to check the targets over hundreds
    of seeds in seconds.
    """
    n = _check_int("n", n, 1)
    seeds = [_check_int("seed", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("simulate_batch needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError("simulate_batch needs distinct seeds (patient ids would repeat)")
    opt = SimulationOptions.from_kwargs(**options)
    width = max(4, len(str(n)))
    local = [f"{opt.id_prefix}{i + 1:0{width}d}" for i in range(n)]
    ids = np.array([f"S{s}-{x}" for s in seeds for x in local], dtype=object)
    sim = _simulate(_Rng(seeds, n), ids, opt,
                    source=f"simulated: crsscore.data.simulate.simulate_batch(n={n}, "
                           f"{len(seeds)} seeds)", seed=seeds[0])
    sim.truth.insert(1, "seed", np.repeat(np.asarray(seeds, dtype=np.int64), n))
    return sim


class _Rng:
    """One random stream per cohort behind a single vectorised simulation.

    Every draw is made for a set of patients (all of them, or the sorted patient indices
    ``rows`` of, e.g., the days with a vasopressor), optionally with ``cols`` values each.
    Cohort ``k`` draws its own share from ``np.random.default_rng(seeds[k])``, in the same
    order and shapes as when it is simulated alone, so a batch reproduces single cohorts.
    """

    def __init__(self, seeds: Sequence[int], n: int) -> None:
        self._gens = [np.random.default_rng(int(s)) for s in seeds]
        self._n = n
        self._edges = np.arange(1, len(seeds), dtype=np.int64) * n

    def _draw(self, fn: Any, rows: IntArray | None, cols: int | None) -> Any:
        extra: tuple[int, ...] = () if cols is None else (cols,)
        if rows is None:
            counts = [self._n] * len(self._gens)
        elif len(self._gens) == 1:
            counts = [len(rows)]
        else:
            if len(rows) > 1 and bool(np.any(np.diff(rows) < 0)):
                raise AssertionError("rows must be sorted by patient")
            cuts = np.searchsorted(rows, self._edges)
            counts = np.diff(np.concatenate([[0], cuts, [len(rows)]])).tolist()
        if len(self._gens) == 1:
            return fn(self._gens[0], (counts[0], *extra))
        return np.concatenate([fn(g, (c, *extra)) for g, c in zip(self._gens, counts,
                                                                     strict=True)], axis=0)

    def random(self, rows: IntArray | None = None, cols: int | None = None) -> FloatArray:
        out: FloatArray = self._draw(lambda g, sz: g.random(sz), rows, cols)
        return out

    def normal(self, loc: float, scale: float, rows: IntArray | None = None,
               cols: int | None = None) -> FloatArray:
        out: FloatArray = self._draw(lambda g, sz: g.normal(loc, scale, sz), rows, cols)
        return out

    def uniform(self, low: float, high: float, rows: IntArray | None = None,
                cols: int | None = None) -> FloatArray:
        out: FloatArray = self._draw(lambda g, sz: g.uniform(low, high, sz), rows, cols)
        return out

    def gamma(self, shape: float, rows: IntArray | None = None,
              cols: int | None = None) -> FloatArray:
        out: FloatArray = self._draw(lambda g, sz: g.gamma(shape, 1.0, sz), rows, cols)
        return out

    def poisson(self, lam: float, rows: IntArray | None = None) -> IntArray:
        out: IntArray = self._draw(lambda g, sz: g.poisson(lam, sz), rows, None)
        return out

    def integers(self, low: int, high: int, rows: IntArray | None = None) -> IntArray:
        out: IntArray = self._draw(lambda g, sz: g.integers(low, high, sz), rows, None)
        return out

    def choice(self, p: Sequence[float], rows: IntArray | None = None,
               cols: int | None = None) -> IntArray:
        """Index 0..len(p)-1 drawn with probabilities ``p``."""
        cum = np.cumsum(np.asarray(p, dtype=np.float64))
        cum /= cum[-1]
        out: IntArray = np.searchsorted(cum, self.random(rows, cols), side="right")
        return np.minimum(out, len(p) - 1)


def _simulate(rng: _Rng, ids: npt.NDArray[Any], opt: SimulationOptions, *, source: str,
              seed: int) -> Simulation:
    n = len(ids)
    ref, cuts = _reference(opt)
    cov = _covariates(rng, n, opt)
    y = cov.latent
    yz = _normal_score(y, ref)
    grade = np.searchsorted(cuts, y, side="right").astype(np.int64)  # 0..5

    days = np.arange(opt.first_day, opt.last_day + 1, dtype=np.int64)
    course = _crs_course(rng, grade, days, opt)
    events = _Long(EVENT_NAMES)
    treat = _treatment_events(rng, events, course, cov, days)
    sup = _vital_signs_and_support(rng, events, course, treat, cov, days, opt)
    eff = sup.eff
    vitals = _vitals(rng, sup, course, days)
    icans_max = _icans(rng, events, course, cov, opt)
    _deaths_and_records(rng, events, course, eff, days, opt)
    labs = _labs(rng, course, treat, cov, yz, opt)
    if opt.recorded_series_rate > 0:  # drawn last: the other tables stay as without it
        _recorded_series(rng, events, eff, days, opt)

    patients = _patients_frame(ids, cov, opt)
    observations = _observations_frame(ids, vitals + labs)
    events_frame = _events_frame(ids, events)

    max_eff = eff.max(axis=1)
    truth = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype="str"),
        "latent_severity": y,
        "crs_max_grade": max_eff.astype(np.int64),
        "crs_onset_day": _first_day(eff >= 1, days),
        "crs_severe_onset_day": _first_day(eff >= 3, days),
        "severe_crs": (max_eff >= 3).astype(np.int64),
        "icans_max_grade": icans_max,
        "death_day": course.death_time,
        "death_cause": _str_column(course.death_cause, ["crs", "infection"]),
    })
    cohort = Cohort(
        patients=patients, observations=observations, events=events_frame, source=source,
        synthetic=True, notes=[SYNTHETIC_NOTE, f"simulator options: {_options_text(opt)}"],
    )
    return Simulation(cohort=cohort, truth=truth, daily_grade=eff, days=days, options=opt,
                      seed=seed)


def _options_text(opt: SimulationOptions) -> str:
    default = SimulationOptions()
    changed = {k: v for k, v in asdict(opt).items() if getattr(default, k) != v}
    return ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "defaults"


def _first_day(mask: BoolArray, days: IntArray) -> FloatArray:
    has = mask.any(axis=1)
    first = days[np.argmax(mask, axis=1)].astype(np.float64)
    out: FloatArray = np.where(has, first, np.nan)
    return out


@dataclass(frozen=True)
class _Course:
    grade: IntArray  # peak grade 0..5
    level: npt.NDArray[np.int64]  # (n, D) intended grade before fever masking, -1 after death
    t0: FloatArray  # onset day (NaN for no CRS)
    tp: FloatArray  # day the peak level starts
    k: FloatArray  # days at peak level
    infl_on: FloatArray  # inflammation curve: start, peak, end of plateau (continuous days)
    infl_pk: FloatArray
    infl_end: FloatArray
    death_time: FloatArray  # NaN when alive at the end
    death_cause: IntArray  # -1 alive, 0 crs, 1 infection
    last_time: FloatArray  # end of follow-up (death or last day + 1)


def _crs_course(rng: _Rng, grade: IntArray, days: IntArray,
                opt: SimulationOptions) -> _Course:
    n = len(grade)
    peak_level = np.minimum(grade, 4)
    # Day the peak grade starts.
    tp_sev = np.clip(_rnd(np.exp(rng.normal(np.log(4.5), 0.33))), 1, 14)
    tp_g2 = np.clip(_rnd(np.exp(rng.normal(np.log(4.0), 0.45))), 1, 14)
    t_g1 = np.clip(_rnd(np.exp(rng.normal(np.log(3.0), 0.55))), 0, 14)
    tp = np.select([grade >= 3, grade == 2, grade == 1], [tp_sev, tp_g2, t_g1], np.nan)
    lag_sev = rng.choice([0.10, 0.35, 0.35, 0.20])
    lag_g2 = rng.choice([0.30, 0.45, 0.25])
    lag = np.select([grade >= 3, grade == 2], [lag_sev, lag_g2], 0)
    t0 = np.maximum(tp - lag, 0.0)
    k = np.select([grade == 1, grade == 2, grade == 3, grade == 4, grade == 5],
                  [rng.integers(1, 5), rng.integers(1, 4), rng.integers(1, 5),
                   rng.integers(2, 6), rng.integers(2, 7)], 0).astype(np.float64)
    tail = rng.integers(0, 3).astype(np.float64)

    dd = days[None, :].astype(np.float64)
    t0c, tpc, kc = t0[:, None], tp[:, None], k[:, None]
    g = grade[:, None]
    level = np.zeros((n, len(days)), dtype=np.int64)
    crs = g >= 1
    level = np.where(crs & (dd >= t0c) & (dd < tpc), 1, level)
    level = np.where((g >= 3) & (dd == tpc - 1) & (dd >= t0c), 2, level)
    level = np.where(crs & (dd >= tpc) & (dd < tpc + kc), peak_level[:, None], level)
    post = tpc + kc
    level = np.where((g >= 2) & (g <= 4) & (dd == post), np.where(g >= 3, 2, 1), level)
    level = np.where((g >= 2) & (g <= 4) & (dd > post) & (dd <= post + tail[:, None]), 1, level)

    # Deaths: CRS deaths (grade 5) on the last peak day; some later non-CRS deaths.
    frac = rng.uniform(0.88, 0.98)  # late in the day: after that day's records
    death_crs = np.where(grade == 5, tp + k - 1 + frac, np.nan)
    other = (grade < 5) & (rng.random() < opt.other_death_rate)
    death_other = np.where(other, rng.integers(15, opt.last_day + 1) + frac, np.nan)
    death_time = np.where(grade == 5, death_crs, death_other)
    death_cause = np.where(grade == 5, 0, np.where(other, 1, -1)).astype(np.int64)
    last_time = np.where(np.isnan(death_time), opt.last_day + 1.0, death_time)
    level = np.where((g == 5) & (dd == tpc + kc - 1), 5, level)  # the day of the CRS death
    level = np.where(dd > last_time[:, None], -1, level)

    # Inflammation curve (continuous time), also for patients without CRS (subclinical bump).
    sub_on = rng.uniform(1.0, 6.0)
    on = np.where(grade >= 1, t0 - 0.3, sub_on)
    pk = np.where(grade >= 1, tp + 0.6, sub_on + 1.0)
    end = np.where(grade >= 1, tp + k + 0.3, sub_on + 2.0)
    return _Course(grade=grade, level=level, t0=np.where(grade >= 1, t0, np.nan),
                   tp=np.where(grade >= 1, tp, np.nan), k=k, infl_on=on, infl_pk=pk,
                   infl_end=end, death_time=death_time, death_cause=death_cause,
                   last_time=last_time)


@dataclass(frozen=True)
class _Treatment:
    toci_time: FloatArray  # first dose (inf when never given)
    toci_day: FloatArray
    weight: FloatArray


def _treatment_events(rng: _Rng, ev: _Long, course: _Course, cov: _Covariates,
                      days: IntArray) -> _Treatment:
    n, nd = course.level.shape
    lvl = course.level
    ge2 = lvl >= 2
    has = ge2.any(axis=1)
    toci_day = np.where(has, days[np.argmax(ge2, axis=1)], np.inf).astype(np.float64)
    toci_time = toci_day + rng.uniform(0.3, 0.8)
    dose = _rnd(np.minimum(8.0 * cov.weight, 800.0))
    idx = np.flatnonzero(has)
    ev.add(idx, toci_time[idx], "tocilizumab", dose[idx], _u("mg"), _d("tocilizumab"))
    # Second dose the next day when CRS is grade >= 3 then (half of them).
    col_next = np.clip(np.argmax(ge2, axis=1) + 1, 0, nd - 1)
    next_lvl = lvl[np.arange(n), col_next]
    second = has & (next_lvl >= 3) & (rng.random() < 0.5)
    idx2 = np.flatnonzero(second)
    ev.add(idx2, toci_time[idx2] + 1.0, "tocilizumab", dose[idx2], _u("mg"), _d("tocilizumab"))
    # Corticosteroids: dexamethasone on grade 3 days (and some grade 2 days), methylpred on 4.
    frac = rng.uniform(0.35, 0.85, cols=nd)
    dex = (lvl == 3) | ((lvl == 2) & (rng.random(cols=nd) < 0.25))
    pi, di = np.nonzero(dex)
    ev.add(pi, days[di] + frac[pi, di], "corticosteroid", 10.0, _u("mg"), _d("dexamethasone"))
    pi, di = np.nonzero(lvl >= 4)
    ev.add(pi, days[di] + frac[pi, di], "corticosteroid", 1000.0, _u("mg"),
           _d("methylprednisolone"))
    return _Treatment(toci_time=np.where(has, toci_time, np.inf), toci_day=toci_day,
                      weight=cov.weight)


@dataclass(frozen=True)
class _Block:
    """One analyte's draws: times and values (n, m), NaN = not measured; nominal times (m,)."""

    code: str
    times: FloatArray
    values: FloatArray
    nominal: FloatArray


@dataclass(frozen=True)
class _Support:
    eff: npt.NDArray[np.int8]  # intended daily ASTCT grade (-1 after death)
    fever: BoolArray
    hemo: IntArray  # haemodynamic level per day (0, 2, 3, 4)
    resp: IntArray  # respiratory level per day (0, 2, 3, 4)


def _vital_signs_and_support(rng: _Rng, ev: _Long, course: _Course,
                             treat: _Treatment, cov: _Covariates, days: IntArray,
                             opt: SimulationOptions) -> _Support:
    """Hypotension, vasopressor and oxygen events; the intended (effective) daily grade."""
    nd = course.level.shape[1]
    lvl = course.level
    dd = days[None, :].astype(np.float64)
    after_toci = dd > treat.toci_day[:, None]
    fever = (lvl >= 1) & (~after_toci | (rng.random(cols=nd) < 0.4))
    eff = np.where(fever | ((lvl >= 2) & after_toci), lvl, np.where(lvl < 0, -1, 0))
    frac = rng.uniform(0.2, 0.8, cols=nd)
    # Which organ system carries the grade on a day of level >= 2: 0 hemo, 1 resp, 2 both.
    kind = rng.choice([0.45, 0.35, 0.20], cols=nd)
    support = np.minimum(lvl, 4)  # grade 5 (CRS death) day: grade 4 support until death
    hemo_lvl = np.where((lvl >= 2) & (kind != 1), support, 0)
    resp_lvl = np.where((lvl >= 2) & (kind != 0), support, 0)
    # A milder second component sometimes (the worse one sets the grade).
    extra = (lvl >= 3) & (rng.random(cols=nd) < 0.25)
    resp_lvl = np.where(extra & (resp_lvl == 0), 2, resp_lvl)
    # Hypotension without fever in a few patients without CRS: ASTCT grade 0.
    afeb = (course.grade == 0) & (rng.random() < opt.afebrile_hypotension_rate)
    afeb_day = rng.integers(1, 10) - days[0]
    hemo_lvl[np.flatnonzero(afeb), afeb_day[afeb]] = 2

    kid = cov.weight < 40.0
    # Grade 2 hypotension: fluids.
    pi, di = np.nonzero(hemo_lvl == 2)
    t = days[di] + frac[pi, di]
    ev.add(pi, t, "hypotension", 1.0, -1, _d("fluids"))
    # Grade 3: one vasopressor (norepinephrine mostly), vasopressin added sometimes.
    pi, di = np.nonzero(hemo_lvl == 3)
    t = days[di] + frac[pi, di]
    ev.add(pi, t, "hypotension", 1.0)
    agent = rng.choice([0.85, 0.10, 0.05], rows=pi)  # NE, dopamine, phenylephrine
    _vaso(rng, ev, pi[agent == 0], t[agent == 0], "norepinephrine", kid)
    _vaso(rng, ev, pi[agent == 1], t[agent == 1], "dopamine", kid)
    _vaso(rng, ev, pi[agent == 2], t[agent == 2], "phenylephrine", kid)
    vp = rng.random(rows=pi) < 0.12
    _vaso(rng, ev, pi[vp], t[vp] + 0.02, "vasopressin", kid)
    # Grade 4: two vasopressors.
    pi, di = np.nonzero(hemo_lvl == 4)
    t = days[di] + frac[pi, di]
    ev.add(pi, t, "hypotension", 1.0)
    _vaso(rng, ev, pi, t, "norepinephrine", kid)
    second = rng.choice([0.6, 0.25, 0.15], rows=pi)
    for j, name in enumerate(("epinephrine", "dopamine", "phenylephrine")):
        sel = second == j
        _vaso(rng, ev, pi[sel], t[sel] + 0.01, name, kid)

    # Oxygen.
    tt = days[None, :] + frac + 0.05
    pi, di = np.nonzero(resp_lvl == 2)
    bb = rng.random(rows=pi) < 0.12
    flow = _rnd(rng.uniform(1.0, 6.0, rows=pi) * 2) / 2
    ev.add(pi, tt[pi, di], "oxygen", flow, _u("L/min"),
           np.where(bb, _d("blow_by"), _d("nasal_cannula")))
    pi, di = np.nonzero(resp_lvl == 3)
    dev = rng.choice([0.5, 0.2, 0.2, 0.1], rows=pi)
    lo = np.array([10.0, 5.0, 10.0, 6.0])[dev]
    hi = np.array([50.0, 10.0, 15.0, 15.0])[dev]
    names = np.array([_d("high_flow_nasal_cannula"), _d("facemask"), _d("non_rebreather"),
                      _d("venturi")])
    ev.add(pi, tt[pi, di], "oxygen", _rnd(lo + (hi - lo) * rng.random(rows=pi)), _u("L/min"), names[dev])
    fi = (dev == 0) | (dev == 3)
    ev.add(pi[fi], tt[pi[fi], di[fi]], "fio2", _rnd(rng.uniform(35, 60, rows=pi[fi])),
           _u("%"))
    pi, di = np.nonzero(resp_lvl == 4)
    dev = rng.choice([0.25, 0.45, 0.30], rows=pi)
    names = np.array([_d("cpap"), _d("bipap"), _d("mechanical_ventilation")])
    ev.add(pi, tt[pi, di], "oxygen", _rnd(rng.uniform(8.0, 15.0, rows=pi)), _u("L/min"),
           names[dev])
    ev.add(pi, tt[pi, di], "fio2", _rnd(rng.uniform(40, 100, rows=pi)), _u("%"))

    return _Support(eff=eff.astype(np.int8), fever=fever, hemo=hemo_lvl, resp=resp_lvl)


_VASO_DOSE: Final[dict[str, tuple[str, float, float, str, float, float]]] = {
    # agent: (adult unit, low, high, child unit, low, high)
    "norepinephrine": ("ug/min", 2.0, 20.0, "ug/kg/min", 0.05, 0.3),
    "epinephrine": ("ug/min", 1.0, 10.0, "ug/kg/min", 0.02, 0.1),
    "dopamine": ("ug/kg/min", 3.0, 10.0, "ug/kg/min", 3.0, 10.0),
    "phenylephrine": ("ug/min", 40.0, 180.0, "ug/min", 20.0, 80.0),
    "vasopressin": ("U/min", 0.01, 0.04, "U/min", 0.0003, 0.002),
}


def _vaso(rng: _Rng, ev: _Long, pi: IntArray, t: FloatArray, agent: str,
          kid: BoolArray) -> None:
    if len(pi) == 0:
        return
    ua, la, ha, uc, lc, hc = _VASO_DOSE[agent]
    child = kid[pi]
    r = rng.random(rows=pi)
    dose = np.where(child, lc + (hc - lc) * r, la + (ha - la) * r)
    dose = _rnd(dose, 4 if agent == "vasopressin" else 2)
    unit = np.where(child, _u(uc), _u(ua))
    ev.add(pi, t, "vasopressor", dose, unit, _d(agent))
    ev.add(pi, t + 0.001, "vasopressor_hours", _rnd(rng.uniform(4.0, 24.0, rows=pi), 1),
           _u("h"), _d(agent))


def _vitals(rng: _Rng, sup: _Support, course: _Course,
            days: IntArray) -> list[_Block]:
    """Daily maximum temperature, lowest SBP and lowest SpO2: (code, times, values or NaN)."""
    nd = sup.eff.shape[1]
    fever, hemo, resp = sup.fever, sup.hemo, sup.resp
    lvl = course.level
    alive = lvl >= 0
    frac = rng.uniform(0.15, 0.85, cols=nd)
    tday = days[None, :] + frac
    alive &= tday < course.last_time[:, None]
    # Temperature: fever days >= 38.1 C, otherwise <= 37.8 C; a few missing non-CRS days.
    t_fev = 38.1 + rng.gamma(2.0, cols=nd) * (0.3 + 0.08 * np.maximum(lvl, 0))
    t_norm = 36.6 + rng.normal(0.0, 0.35, cols=nd)
    temp = _rnd(np.where(fever, np.minimum(t_fev, 41.5), np.clip(t_norm, 35.5, 37.8)), 1)
    out: list[_Block] = []
    nominal = days.astype(np.float64) + 0.5
    keep = alive & (fever | (lvl >= 1) | (rng.random(cols=nd) > 0.02))
    out.append(_Block("temp", tday, np.where(keep, temp, np.nan), nominal))
    # Systolic blood pressure: low on hypotension days, >= 95 mmHg otherwise.
    low = rng.uniform(68.0, 88.0, cols=nd)
    normal = np.clip(rng.normal(116.0, 12.0, cols=nd), 95.0, 165.0)
    sbp = _rnd(np.where(hemo >= 2, low, normal))
    keep = alive & ((hemo >= 2) | (rng.random(cols=nd) > 0.03))
    out.append(_Block("sbp", tday + 0.01, np.where(keep, sbp, np.nan), nominal + 0.01))
    # SpO2: 88-94 % on oxygen days, 95-100 % otherwise.
    spo2 = _rnd(np.where(resp >= 2, rng.uniform(86.0, 94.0, cols=nd),
                         np.clip(rng.normal(97.5, 1.3, cols=nd), 95.0, 100.0)))
    keep = alive & ((resp >= 2) | (rng.random(cols=nd) > 0.05))
    out.append(_Block("spo2", tday + 0.02, np.where(keep, spo2, np.nan), nominal + 0.02))
    return out


def _icans(rng: _Rng, ev: _Long, course: _Course, cov: _Covariates,
           opt: SimulationOptions) -> IntArray:
    """ICANS assessments for monitored patients; returns the intended ICANS grade."""
    n = len(course.grade)
    g = course.grade
    p = np.select([g >= 3, g == 2, g == 1], [0.55, 0.25, 0.10], 0.03)
    has = rng.random() < p
    probs = np.where((g >= 3)[:, None], [0.25, 0.30, 0.30, 0.15], [0.55, 0.35, 0.10, 0.0])
    cum = probs.cumsum(axis=1)
    ig = 1 + (rng.random()[:, None] > cum).sum(axis=1)
    ig = np.where(has, np.minimum(ig, 4), 0).astype(np.int64)
    start = np.where(g >= 1, np.nan_to_num(course.tp) + rng.integers(0, 4),
                     rng.integers(3, 9)).astype(np.float64)
    dur = rng.integers(1, 6)
    monitored = has | (g >= 2) | (rng.random() < opt.icans_monitoring_rate)
    adays = np.arange(0, 15)
    grid = np.zeros((n, len(adays)), dtype=np.int64)
    on = (adays[None, :] >= start[:, None]) & (adays[None, :] < start[:, None] + dur[:, None])
    grid = np.where(on, ig[:, None], 0)
    frac = rng.uniform(0.4, 0.7, cols=len(adays))
    t = adays[None, :] + frac
    alive = t < course.last_time[:, None]
    use = monitored[:, None] & alive
    capd = (cov.age < 12.0)[:, None]
    r = rng.random(cols=len(adays))
    ice = np.select([grid == 0, grid == 1, grid == 2, grid == 3],
                    [10, 7 + np.floor(r * 3), 3 + np.floor(r * 4), np.floor(r * 3)], 0)
    capd_v = np.select([grid == 0, grid <= 2, grid == 3],
                       [0, 1 + np.floor(r * 8), 9 + np.floor(r * 10)], 0)
    cons = np.select([grid <= 1, grid == 2, grid == 3], [_d("spontaneous"), _d("voice"),
                                                         _d("touch")], _d("unarousable"))
    # Grade 4 by unarousable consciousness (no ICE possible); grade 3 ICE 0-2 awake.
    pi, di = np.nonzero(use & ~capd & (grid < 4))
    ev.add(pi, t[pi, di], "ice", ice[pi, di])
    pi, di = np.nonzero(use & capd & (grid < 4))
    ev.add(pi, t[pi, di], "capd", capd_v[pi, di])
    # Level of consciousness is charted only when depressed ("awakens spontaneously" is the
    # ASTCT grade 1 wording for a drowsy patient, not for an alert one).
    pi, di = np.nonzero(use & (grid >= 1) & ((grid >= 2) | (r < 0.5)))
    ev.add(pi, t[pi, di] + 0.01, "consciousness", np.nan, -1, cons[pi, di])
    # Seizures and oedema on the first ICANS day of some grade 3-4 patients.
    first = np.clip(start.astype(np.int64), 0, len(adays) - 1)
    rows = np.arange(n)
    ok = use[rows, first] & (ig >= 3)
    sz = ok & (rng.random() < 0.3)
    idx = np.flatnonzero(sz)
    ev.add(idx, t[idx, first[idx]] + 0.02, "seizure", np.nan, -1,
           np.where(ig[idx] == 4, _d("prolonged"), _d("resolved_rapidly")))
    oed = ok & (ig == 4) & (rng.random() < 0.25)
    idx = np.flatnonzero(oed)
    ev.add(idx, t[idx, first[idx]] + 0.03, "cerebral_edema", np.nan, -1, _d("diffuse"))
    daily = np.where(use, grid, 0)
    realised = daily.max(axis=1)
    if opt.record_grades:  # the centre's own record, on the first day at the worst grade
        rec = np.flatnonzero(realised >= 1)
        peak = np.argmax(daily == realised[:, None], axis=1)
        ev.add(rec, t[rec, peak[rec]] + 0.04, "icans_grade_recorded",
               realised[rec].astype(np.float64), -1, _d("astct"))
    out: IntArray = realised.astype(np.int64)
    return out


def _deaths_and_records(rng: _Rng, ev: _Long, course: _Course,
                        eff: npt.NDArray[np.int8], days: IntArray,
                        opt: SimulationOptions) -> None:
    died = np.flatnonzero(~np.isnan(course.death_time))
    ev.add(died, course.death_time[died], "death", 1.0, -1,
           np.where(course.death_cause[died] == 0, _d("crs"), _d("infection")))
    # Organ toxicity (CTCAE, does not change the ASTCT grade) in some severe patients.
    tox = np.flatnonzero((course.grade >= 3) & (rng.random() < 0.3))
    ev.add(tox, np.nan_to_num(course.tp[tox]) + 1.5, "organ_toxicity",
           rng.integers(2, 4, rows=tox).astype(np.float64), -1, _d("creatinine"))
    if opt.record_grades:  # the centre's own record, on the first day at the worst grade
        worst = eff.max(axis=1)
        rec = np.flatnonzero(worst >= 1)
        peak = np.argmax(eff == worst[:, None], axis=1)
        ev.add(rec, days[peak[rec]] + 0.9, "crs_grade_recorded",
               worst[rec].astype(np.float64), -1, _d("astct"))


# --------------------------------------------------------------------------------------------
# laboratory values
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _LabSpec:
    """log-scale (``log=True``) or additive lab model around a patient baseline."""

    median: float
    between_sd: float
    beta: float
    noise: float
    nuisance: float = 0.0
    log: bool = True
    decimals: int = 1
    toci: float = 0.0  # CRP: fall per day after tocilizumab (log); IL-6: rise (log)
    low: float = 0.0
    high: float = 1e6


_LAB_SPECS: Final[dict[str, _LabSpec]] = {
    "crp": _LabSpec(8.0, 0.9, 3.0, 0.35, nuisance=0.5, decimals=1, toci=-0.3, low=0.2,
                    high=480.0),
    "ferritin": _LabSpec(700.0, 0.8, 2.1, 0.25, nuisance=0.4, decimals=0, low=5.0,
                         high=150000.0),
    "il6": _LabSpec(9.0, 0.8, 3.3, 0.7, nuisance=0.45, decimals=1, toci=1.0, low=1.0,
                    high=80000.0),
    "ifng": _LabSpec(6.0, 0.8, 3.0, 0.6, nuisance=0.3, decimals=1, low=1.0, high=30000.0),
    "il10": _LabSpec(5.0, 0.7, 2.8, 0.5, nuisance=0.3, decimals=1, low=1.0, high=20000.0),
    "mcp1": _LabSpec(350.0, 0.5, 1.4, 0.35, nuisance=0.2, decimals=0, low=10.0, high=50000.0),
    "ldh": _LabSpec(240.0, 0.4, 0.6, 0.15, nuisance=0.1, decimals=0, low=80.0, high=8000.0),
    "ddimer": _LabSpec(0.8, 0.7, 1.4, 0.3, nuisance=0.3, decimals=2, low=0.1, high=100.0),
    "creatinine": _LabSpec(0.65, 0.2, 0.3, 0.1, decimals=2, low=0.15, high=10.0),
    "aptt": _LabSpec(32.0, 3.0, 10.0, 3.5, nuisance=1.5, log=False, decimals=1, low=20.0,
                     high=150.0),
    "pt": _LabSpec(12.5, 0.8, 2.2, 0.7, log=False, decimals=1, low=9.0, high=60.0),
    "albumin": _LabSpec(38.0, 3.5, -5.0, 1.5, log=False, decimals=1, low=15.0, high=52.0),
}


def _inflammation(course: _Course, amp: FloatArray, t: FloatArray) -> FloatArray:
    on, pk, end = course.infl_on[:, None], course.infl_pk[:, None], course.infl_end[:, None]
    rise = np.clip((t - on) / np.maximum(pk - on, 0.5), 0.0, 1.0)
    decay = np.exp(-np.maximum(t - end, 0.0) / 3.0)
    out: FloatArray = amp[:, None] * np.where(t < pk, rise, decay)
    return out


def _labs(rng: _Rng, course: _Course, treat: _Treatment, cov: _Covariates,
          yz: FloatArray, opt: SimulationOptions) -> list[_Block]:
    """Lab draws per analyte: (code, times (n, m), values (n, m) with NaN = not measured)."""
    raw = np.exp(np.clip(_EFFECTS["amp_slope"]
                         * (yz + rng.normal(0.0, _EFFECTS["amp_noise"]) - 1.1), -30.0, 30.0))
    cap = _EFFECTS["amp_max"]
    amp = cap * np.tanh(raw / cap)  # saturates: CRP, ferritin, IL-6 stay in clinical ranges
    nuis = rng.normal(0.0, 1.0)
    core = np.asarray(CORE_SCHEDULE, dtype=np.float64)
    cyto = np.asarray(CYTOKINE_SCHEDULE, dtype=np.float64)

    def draw_times(sched: FloatArray) -> FloatArray:
        m = len(sched)
        t = sched[None, :] + 0.3 + rng.normal(0.0, 0.12, cols=m)
        shift = rng.random(cols=m) < opt.out_of_window_rate
        sign = np.where(rng.random(cols=m) < 0.5, -1.0, 1.0)
        t = np.where(shift, t + sign * rng.uniform(1.1, 2.5, cols=m), t)
        out: FloatArray = _rnd(np.clip(t, opt.first_day - 1.0, opt.last_day + 0.99), 3)
        return out

    t_core = draw_times(core)
    t_cyto = draw_times(cyto)
    missed = rng.random(cols=len(core)) < opt.missed_draw_rate  # whole draw missed
    missed_c = rng.random(cols=len(cyto)) < opt.missed_draw_rate
    panel = rng.random() < opt.cytokine_panel_rate
    alive_core = t_core < course.last_time[:, None]
    alive_cyto = t_cyto < course.last_time[:, None]
    i_core = _inflammation(course, amp, t_core)
    i_cyto = _inflammation(course, amp, t_cyto)
    since_toci_core = t_core - treat.toci_time[:, None]
    since_toci_cyto = t_cyto - treat.toci_time[:, None]

    out: list[_Block] = []
    bases: dict[str, FloatArray] = {}

    def finish(code: str, t: FloatArray, v: FloatArray, avail: BoolArray) -> None:
        miss = rng.random(cols=v.shape[1]) < opt.lab_missing_rate
        sched = cyto if code in CYTOKINE_LABS else core
        out.append(_Block(code, t, np.where(avail & ~miss, v, np.nan), sched + 0.3))

    avail_core = alive_core & ~missed
    for code in ("crp", "ferritin", "il6", "ldh", "ddimer", "creatinine", "aptt", "pt",
                 "albumin", "ifng", "il10", "mcp1"):
        spec = _LAB_SPECS[code]
        cytokine = code in CYTOKINE_LABS
        t = t_cyto if cytokine else t_core
        infl = i_cyto if cytokine else i_core
        since = since_toci_cyto if cytokine else since_toci_core
        base_shift = rng.normal(0.0, spec.between_sd)
        bases[code] = base_shift
        if code == "ldh":
            base_shift = base_shift + np.log1p(cov.blasts / 20.0)
        if code == "creatinine":
            base_shift = base_shift + np.where(cov.age < 12, -0.4, 0.0)
        mean = spec.beta * infl + spec.nuisance * nuis[:, None]
        if spec.toci < 0:  # CRP falls after tocilizumab
            mean = mean + np.where(since > 0, np.maximum(spec.toci * since, -1.5), 0.0)
        elif spec.toci > 0:  # IL-6 rises after tocilizumab (receptor blockade)
            mean = mean + np.where(since > 0, spec.toci * np.exp(-np.maximum(since, 0) / 6.0),
                                   0.0)
        noise = rng.normal(0.0, spec.noise, cols=t.shape[1])
        if spec.log:
            v = spec.median * np.exp(base_shift[:, None] + mean + noise)
        else:
            v = spec.median + base_shift[:, None] + mean + noise
        v = _rnd(np.clip(v, spec.low, spec.high), spec.decimals)
        avail = (alive_cyto & ~missed_c & panel[:, None]) if cytokine else avail_core
        finish(code, t, v, avail)

    # Fibrinogen: acute-phase rise early, consumption in severe CRS.
    mc = len(core)
    fib = np.clip(rng.normal(3.1, 0.6), 1.2, None)[:, None] * np.exp(
        0.15 * i_core - 0.12 * i_core**2 + rng.normal(0.0, 0.12, cols=mc))
    finish("fibrinogen", t_core, _rnd(np.clip(fib, 0.3, 12.0), 2), avail_core)

    # Blood counts: lymphodepletion (days -5..-3) nadir, deeper neutropenia with severe CRS.
    ld = np.where(t_core < 14.0, np.clip((t_core + 3.0) / 5.0, 0.0, 1.0),
                  1.0 - np.clip((t_core - 14.0) / 20.0, 0.0, 0.6))
    depth = 2.0 + 0.75 * np.minimum(amp, 4.0) + rng.normal(0.0, 0.35)
    anc = 2.2 * np.exp(rng.normal(0.0, 0.6)[:, None] - depth[:, None] * ld
                       + rng.normal(0.0, 0.35, cols=mc))
    anc = _rnd(np.clip(anc, 0.0, 60.0), 2)
    expansion = np.exp(-((t_core - 9.0) ** 2) / 18.0) * np.minimum(amp, 4.0)[:, None]
    alc = 0.9 * np.exp(rng.normal(0.0, 0.5)[:, None] - 2.0 * ld + 1.2 * expansion
                       + rng.normal(0.0, 0.3, cols=mc))
    alc = _rnd(np.clip(alc, 0.0, 80.0), 2)
    mono = 0.35 * np.exp(-1.2 * ld + rng.normal(0.0, 0.3, cols=mc))
    wbc = _rnd(anc + alc + mono, 2)
    hb = _rnd(np.clip(rng.normal(9.8, 1.2)[:, None] - 0.7 * ld - 0.4 * i_core
                      + rng.normal(0.0, 0.4, cols=mc), 4.0, 16.5), 1)
    plt = np.exp(np.log(90.0) + rng.normal(0.0, 0.6)[:, None] - 0.7 * ld - 0.35 * i_core
                 + rng.normal(0.0, 0.2, cols=mc))
    plt = _rnd(np.clip(plt, 2.0, 900.0))
    for code, v in (("anc", anc), ("wbc", wbc), ("alc", alc), ("hb", hb), ("plt", plt)):
        finish(code, t_core, v, avail_core)
    if opt.daily_labs:  # drawn last: the scheduled draws stay as without the option
        out += _daily_labs(rng, course, treat, amp, nuis, bases, opt)
    return out


def _daily_labs(rng: _Rng, course: _Course, treat: _Treatment, amp: FloatArray,
                nuis: FloatArray, bases: dict[str, FloatArray],
                opt: SimulationOptions) -> list[_Block]:
    """Morning CRP, ferritin and IL-6 on the days 1-14 without a scheduled draw: same
    patient baseline, inflammation curve, nuisance factor and tocilizumab effects as the
    scheduled draws (option ``daily_labs``)."""
    sched = np.asarray(DAILY_LAB_DAYS, dtype=np.float64)
    m = len(sched)
    t = _rnd(sched[None, :] + 0.3 + rng.normal(0.0, 0.12, cols=m), 3)
    alive = t < course.last_time[:, None]
    infl = _inflammation(course, amp, t)
    since = t - treat.toci_time[:, None]
    blocks: list[_Block] = []
    for code in DAILY_LABS:
        spec = _LAB_SPECS[code]
        mean = spec.beta * infl + spec.nuisance * nuis[:, None]
        if spec.toci < 0:
            mean = mean + np.where(since > 0, np.maximum(spec.toci * since, -1.5), 0.0)
        elif spec.toci > 0:
            mean = mean + np.where(since > 0, spec.toci * np.exp(-np.maximum(since, 0) / 6.0),
                                   0.0)
        noise = rng.normal(0.0, spec.noise, cols=m)
        v = _rnd(np.clip(spec.median * np.exp(bases[code][:, None] + mean + noise), spec.low,
                         spec.high), spec.decimals)
        miss = rng.random(cols=m) < opt.lab_missing_rate
        blocks.append(_Block(code, t, np.where(alive & ~miss, v, np.nan), sched + 0.3))
    return blocks


def _recorded_series(rng: _Rng, ev: _Long, eff: npt.NDArray[np.int8], days: IntArray,
                     opt: SimulationOptions) -> None:
    """Option ``recorded_series_rate``: the centre's daily ASTCT grade from day 0 for that
    share of patients; for ``recorded_stop_at_severe`` of them the series stops on the first
    day at grade >= 3, as registries that record up to the event do."""
    pick = rng.random() < opt.recorded_series_rate
    stop = rng.random() < opt.recorded_stop_at_severe
    severe = eff >= 3
    first_sev = np.where(severe.any(axis=1), np.argmax(severe, axis=1), len(days))
    col = np.arange(len(days))[None, :]
    keep = (pick[:, None] & (days[None, :] >= 0) & (eff >= 0)
            & (~stop[:, None] | (col <= first_sev[:, None])))
    pi, di = np.nonzero(keep)
    ev.add(pi.astype(np.int64), days[di].astype(np.float64) + 0.5, "crs_grade_recorded",
           eff[pi, di].astype(np.float64), -1, _d("astct"))


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------

def _patients_frame(ids: npt.NDArray[Any], cov: _Covariates,
                    opt: SimulationOptions) -> pd.DataFrame:
    n = len(ids)
    dates = (np.datetime64("2017-01-01") + cov.date_offset.astype("timedelta64[D]")).astype(str)
    costim = np.where(cov.cd28, 1, 0)
    frame = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype="str"),
        "centre": _str_column(np.zeros(n), [opt.centre]),
        "age_years": cov.age,
        "sex": _str_column(cov.male.astype(np.int64), ["F", "M"]),
        "weight_kg": cov.weight,
        "diagnosis": _str_column(np.zeros(n), ["B-ALL"]),
        "prior_lines": cov.prior_lines.astype(np.float64),
        "prior_hsct": cov.prior_hsct.astype(np.int64),
        "bridging": cov.bridging.astype(np.int64),
        "product": _str_column(costim, ["anti-CD19 CAR-T (4-1BB)", "anti-CD19 CAR-T (CD28)"]),
        "costim": _str_column(costim, ["4-1BB", "CD28"]),
        "dose_cells_per_kg": cov.dose,
        "lymphodepletion": _str_column(np.zeros(n), ["fludarabine/cyclophosphamide"]),
        "infusion_date": pd.Series(dates, dtype="str"),
        "mrd_baseline_pct": cov.mrd_base,
        "mrd_post_ld_pct": cov.mrd_post,
        "marrow_blasts_pct": cov.blasts,
        "synthetic": np.ones(n, dtype=np.int64),
    })
    return frame[[c for c in PATIENT_COLUMNS if c in frame.columns]]


def _observations_frame(ids: npt.NDArray[Any],
                        blocks: list[_Block]) -> pd.DataFrame:
    """Long observations, ordered by patient then nominal time (no global sort: fast)."""
    codes = list(ANALYTES)
    times = np.concatenate([b.times for b in blocks], axis=1)
    values = np.concatenate([b.values for b in blocks], axis=1)
    col_code = np.concatenate([np.full(b.times.shape[1], codes.index(b.code)) for b in blocks])
    nominal = np.concatenate([b.nominal for b in blocks])
    order = np.lexsort((col_code, nominal))
    times, values, col_code = times[:, order], values[:, order], col_code[order]
    keep = ~np.isnan(values)
    pid = np.nonzero(keep)[0]
    day = times[keep]
    value = values[keep]
    code = np.broadcast_to(col_code, keep.shape)[keep]
    units = [canonical_unit(c) for c in codes]
    return pd.DataFrame({
        "patient_id": _str_column(pid, ids),
        "day": day,
        "analyte": _str_column(code, codes),
        "value": value,
        "unit": _str_column(code, units),
    })


def _events_frame(ids: npt.NDArray[Any], ev: _Long) -> pd.DataFrame:
    pid, day, code, value, unit, detail = ev.arrays()
    return pd.DataFrame({
        "patient_id": _str_column(pid, ids),
        "day": _rnd(day, 3),
        "event": _str_column(code, EVENT_NAMES),
        "value": value,
        "unit": _str_column(unit, EVENT_UNITS),
        "detail": _str_column(detail, EVENT_DETAILS),
    })


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV through pyarrow (several times faster than pandas for millions of rows); values are
    quoted only when a text contains the delimiter or a quote."""
    import pyarrow.csv as pcsv

    table = pa.Table.from_pandas(frame, preserve_index=False)
    header = (",".join(str(c) for c in frame.columns) + "\n").encode()
    for style in ("none", "needed"):  # "none" refuses text holding a comma or a quote
        try:
            with pa.OSFile(str(path), "wb") as sink:
                sink.write(header)
                pcsv.write_csv(table, sink, write_options=pcsv.WriteOptions(
                    include_header=False, quoting_style=style))
            return
        except pa.ArrowInvalid:
            continue


def write_cohort(cohort: Cohort, out_dir: str | Path, *,
                 format: Literal["csv", "parquet"] = "csv") -> list[Path]:
    """Write the canonical folder: patients, observations, events (+ SYNTHETIC.txt if synthetic).

    Returns the paths written.  Patients of a synthetic cohort always carry ``synthetic = 1``.
    """
    if format not in ("csv", "parquet"):
        raise ValueError(f"The 'format' parameter of write_cohort must be 'csv' or 'parquet'. "
                         f"Got {format!r} instead.")
    from crsscore.atomicio import atomic_path, ensure_folder, write_text

    out = ensure_folder(out_dir)
    patients = cohort.patients
    if cohort.synthetic:
        patients = patients.assign(synthetic=1)
    written: list[Path] = []
    for name, frame in (("patients", patients), ("observations", cohort.observations),
                        ("events", cohort.events)):
        path = out / f"{name}.{format}"
        with atomic_path(path) as tmp:  # two runs into one folder never interleave a file
            if format == "csv":
                _write_csv(frame, tmp)
            else:
                frame.to_parquet(tmp, index=False)
        written.append(path)
    if cohort.synthetic:
        note = out / "SYNTHETIC.txt"
        lines = [SYNTHETIC_NOTE, "", f"source: {cohort.source}",
                 f"patients: {cohort.n_patients}", *cohort.notes[1:], "",
                 "The CRS grade is not a column: derive it from the raw events with "
                 "`crsscore grade` (ASTCT 2019).", ""]
        write_text(note, "\n".join(lines))
        written.append(note)
    return written


__all__ = ["CORE_SCHEDULE", "CYTOKINE_SCHEDULE", "DAILY_LABS", "DAILY_LAB_DAYS", "MRD_FLOOR", "Simulation", "SimulationOptions",
           "simulate", "simulate_batch", "simulate_cohort", "write_cohort"]
