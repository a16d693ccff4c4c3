"""Daily ASTCT 2019 ICANS grade, vectorised over patient-days.

The worst domain sets the grade: encephalopathy (ICE 0-10, or the CAPD total for children
younger than ``settings.capd_below_age_years``), level of consciousness, seizures, motor
findings and raised intracranial pressure / cerebral oedema.  Tremor, myoclonus and
intracranial haemorrhage are not part of ICANS and are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from crsscore.grading._combine import Graded, Reasons, crit, select
from crsscore.grading._features import DailyFeatures
from crsscore.grading.crs import NOT_GRADABLE
from crsscore.grading.settings import GradingSettings

_LOC_TEXT = ["", "awakens spontaneously (depressed consciousness)", "awakens to voice",
             "awakens only to touch", "unarousable, stupor or coma"]
_SEIZ_TEXT = {3: "seizure resolving rapidly or non-convulsive seizure on EEG",
              4: "prolonged (> 5 min) or repeated seizures"}
_EDEMA_TEXT = {3: "focal cerebral oedema on imaging",
               4: "diffuse cerebral oedema / raised intracranial pressure"}


def young_child(f: DailyFeatures, settings: GradingSettings) -> np.ndarray:
    """Days of patients young enough for CAPD instead of ICE."""
    return np.asarray(np.isfinite(f.age) & (f.age < settings.capd_below_age_years))


@dataclass(frozen=True)
class _ReasonTable:
    """The ICANS reason texts and the codes of each domain's levels (read-only arrays)."""

    texts: tuple[str, ...]
    no_info: int
    no_assessment: int
    ice: npt.NDArray[np.int32]  # ICE grade 0-3
    capd: npt.NDArray[np.int32]  # CAPD grade 0, 1, 3
    loc: npt.NDArray[np.int32]  # level of consciousness 1-4
    seizure: npt.NDArray[np.int32]  # 3-4
    edema: npt.NDArray[np.int32]  # 3-4
    motor: int
    death: int


def _reason_table() -> _ReasonTable:
    """Built once (no setting is in the texts); a grading adds its input problems after."""
    rs = Reasons()
    no_info = rs.code(NOT_GRADABLE + "no neurological assessment")
    no_assessment = rs.code(NOT_GRADABLE + "no ICE/CAPD or level-of-consciousness assessment")
    ice = np.array([rs.code("ICE 10 and nothing else"), rs.code("ICE 7-9"),
                    rs.code("ICE 3-6"), rs.code("ICE 0-2 (awake)")], dtype=np.int32)
    capd = np.array([rs.code("CAPD 0 and nothing else"), rs.code("CAPD 1-8"), 0,
                     rs.code("CAPD >= 9")], dtype=np.int32)
    loc = np.array([rs.code(t) if t else 0 for t in _LOC_TEXT], dtype=np.int32)
    seizure = np.zeros(5, np.int32)
    edema = np.zeros(5, np.int32)
    for k, t in _SEIZ_TEXT.items():
        seizure[k] = rs.code(t)
    for k, t in _EDEMA_TEXT.items():
        edema[k] = rs.code(t)
    motor = rs.code("deep focal motor weakness (hemiparesis, paraparesis)")
    death = rs.code("death due to ICANS")
    for arr in (ice, capd, loc, seizure, edema):
        arr.setflags(write=False)
    return _ReasonTable(tuple(rs.items), no_info, no_assessment, ice, capd, loc, seizure, edema,
                        motor, death)


_REASONS: Final = _reason_table()
#: The criterion (``CRITERIA`` index) of each domain, in the order of ``domains`` below.
_DOMAIN_CRITERIA: Final = np.array([crit(c) for c in ("encephalopathy", "consciousness",
                                                      "seizure", "motor", "cerebral oedema")],
                                   dtype=np.int8)
_DOMAIN_CRITERIA.setflags(write=False)


def _clip(levels: npt.NDArray[np.int8], hi: int) -> npt.NDArray[np.int8]:
    """``np.clip(levels, 0, hi)`` by two ufuncs (np.clip's wrappers cost more on a few days)."""
    return np.minimum(np.maximum(levels, 0), hi)


def grade_icans(f: DailyFeatures, settings: GradingSettings) -> Graded:
    """ASTCT 2019 ICANS grade for every patient-day (-1 = not gradable).

    Only days with a neurological record, an ICANS death or an input problem are evaluated;
    every other day is "not gradable: no neurological assessment".
    """
    rs = Reasons.of(_REASONS.texts)
    no_info_code, no_assess_code = _REASONS.no_info, _REASONS.no_assessment
    ice_text, capd_text = _REASONS.ice, _REASONS.capd
    loc_codes, seiz_codes, edema_codes = _REASONS.loc, _REASONS.seizure, _REASONS.edema
    motor_code, death_code = _REASONS.motor, _REASONS.death
    msg = np.array([rs.code(NOT_GRADABLE + m) for m in f.messages] or [0], dtype=np.int32)

    grade_all = np.full(f.n, -1, dtype=np.int8)
    reason_all = np.full(f.n, no_info_code, dtype=np.int32)
    names_all = np.full(f.n, crit("assessment"), dtype=np.int8)
    sub = np.flatnonzero(f.has_icans_info | (f.death == 2) | (f.icans_problem >= 0))
    if sub.size == 0:
        return Graded(grade=grade_all, reason=reason_all, reasons=rs.items, criterion=names_all)

    age = f.age[sub]
    young = np.isfinite(age) & (age < settings.capd_below_age_years)
    ice = np.where(young, np.nan, f.ice[sub])
    capd = np.where(young, f.capd[sub], np.nan)
    loc, seizure, edema = f.loc[sub], f.seizure[sub], f.edema[sub]
    ice_g = select([ice <= 2, ice <= 6, ice <= 9, ice == 10], [3, 2, 1, 0], -1)
    capd_g = select([capd >= 9, capd >= 1, capd == 0], [3, 1, 0], -1)
    enc = np.maximum(ice_g, capd_g).astype(np.int8)  # -1 = no encephalopathy assessment
    motor = np.where(f.motor[sub], 4, 0).astype(np.int8)
    domains = np.stack([enc, loc, seizure, motor, edema])
    worst = domains.max(axis=0).astype(np.int8)
    which = np.argmax(domains == worst, axis=0)
    assessed = (enc >= 0) | (loc > 0)
    grade = np.where(assessed | (worst >= 3), np.maximum(worst, 0), -1).astype(np.int8)

    enc_level = _clip(enc, 3)
    enc_reason = np.where(young, capd_text[enc_level], ice_text[enc_level])
    reason = select(
        [which == 0, which == 1, which == 2, which == 3],
        [enc_reason, loc_codes[_clip(loc, 4)], seiz_codes[_clip(seizure, 4)],
         np.full(sub.size, motor_code)],
        edema_codes[_clip(edema, 4)]).astype(np.int32)
    reason = np.where(grade >= 0, reason,
                      np.where(f.has_icans_info[sub], no_assess_code, no_info_code))
    names = _DOMAIN_CRITERIA[which]
    names = np.where(grade >= 0, names, crit("assessment"))
    dead = f.death[sub] == 2
    if settings.icans_death_is_grade5 and dead.any():
        grade = np.where(dead, 5, grade).astype(np.int8)
        reason = np.where(dead, death_code, reason)
        names = np.where(dead, crit("death"), names)
    problem = f.icans_problem[sub]
    bad = problem >= 0
    if bad.any():
        grade = np.where(bad, -1, grade)
        reason = np.where(bad, msg[np.maximum(problem, 0)], reason)
        names = np.where(bad, crit("invalid input"), names)
    grade_all[sub] = grade
    reason_all[sub] = reason
    names_all[sub] = names
    return Graded(grade=grade_all, reason=reason_all, reasons=rs.items, criterion=names_all)
