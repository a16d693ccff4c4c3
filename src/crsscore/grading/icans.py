"""Daily ASTCT 2019 ICANS grade, vectorised over patient-days.

The worst domain sets the grade: encephalopathy (ICE 0-10, or the CAPD total for children
younger than ``settings.capd_below_age_years``), level of consciousness, seizures, motor
findings and raised intracranial pressure / cerebral oedema.  Tremor, myoclonus and
intracranial haemorrhage are not part of ICANS and are not read.
"""

from __future__ import annotations

import numpy as np

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


def grade_icans(f: DailyFeatures, settings: GradingSettings) -> Graded:
    """ASTCT 2019 ICANS grade for every patient-day (-1 = not gradable).

    Only days with a neurological record, an ICANS death or an input problem are evaluated;
    every other day is "not gradable: no neurological assessment".
    """
    rs = Reasons()
    no_info_code = rs.code(NOT_GRADABLE + "no neurological assessment")
    no_assess_code = rs.code(NOT_GRADABLE + "no ICE/CAPD or level-of-consciousness assessment")
    ice_text = np.array([rs.code("ICE 10 and nothing else"), rs.code("ICE 7-9"),
                         rs.code("ICE 3-6"), rs.code("ICE 0-2 (awake)")], dtype=np.int32)
    capd_text = np.array([rs.code("CAPD 0 and nothing else"), rs.code("CAPD 1-8"), 0,
                          rs.code("CAPD >= 9")], dtype=np.int32)
    loc_codes = np.array([rs.code(t) if t else 0 for t in _LOC_TEXT], dtype=np.int32)
    seiz_codes = np.zeros(5, np.int32)
    edema_codes = np.zeros(5, np.int32)
    for k, t in _SEIZ_TEXT.items():
        seiz_codes[k] = rs.code(t)
    for k, t in _EDEMA_TEXT.items():
        edema_codes[k] = rs.code(t)
    motor_code = rs.code("deep focal motor weakness (hemiparesis, paraparesis)")
    death_code = rs.code("death due to ICANS")
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

    enc_reason = np.where(young, capd_text[np.clip(enc, 0, 3)], ice_text[np.clip(enc, 0, 3)])
    reason = select(
        [which == 0, which == 1, which == 2, which == 3],
        [enc_reason, loc_codes[np.clip(loc, 0, 4)], seiz_codes[np.clip(seizure, 0, 4)],
         np.full(sub.size, motor_code)],
        edema_codes[np.clip(edema, 0, 4)]).astype(np.int32)
    reason = np.where(grade >= 0, reason,
                      np.where(f.has_icans_info[sub], no_assess_code, no_info_code))
    names = np.array([crit(c) for c in ("encephalopathy", "consciousness", "seizure", "motor",
                                        "cerebral oedema")], dtype=np.int8)[which]
    names = np.where(grade >= 0, names, crit("assessment"))
    if settings.icans_death_is_grade5:
        dead = f.death[sub] == 2
        grade = np.where(dead, 5, grade).astype(np.int8)
        reason = np.where(dead, death_code, reason)
        names = np.where(dead, crit("death"), names)
    problem = f.icans_problem[sub]
    bad = problem >= 0
    grade_all[sub] = np.where(bad, -1, grade)
    reason_all[sub] = np.where(bad, msg[np.maximum(problem, 0)], reason)
    names_all[sub] = np.where(bad, crit("invalid input"), names)
    return Graded(grade=grade_all, reason=reason_all, reasons=rs.items, criterion=names_all)
