"""Daily CRS grade by ASTCT 2019 and by the older scales, vectorised over patient-days.

Every function here takes :class:`~crsscore.grading._features.DailyFeatures` (one entry per
patient-day, history already added) and returns a :class:`~crsscore.grading._combine.Graded`:
the grade (-1 = not gradable), the reason and the name of the criterion that set it.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
import numpy.typing as npt

from crsscore.grading._combine import Criterion, Graded, Reasons, combine, const, crit, select
from crsscore.grading._features import DailyFeatures
from crsscore.grading.settings import GradingSettings

I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]

NOT_GRADABLE = "not gradable: "

# ASTCT hypotension kinds: index -> (level, text)
_HEMO: list[tuple[int, str]] = [
    (0, ""),
    (2, "hypotension not needing vasopressors"),
    (3, "vasopressin alone (counted as one vasopressor)"),
    (3, "hypotension on one vasopressor"),
    (3, "hypotension on one vasopressor with vasopressin"),
    (4, "hypotension on several vasopressors (vasopressin not counted)"),
    (2, "vasopressin alone (setting: counted as hypotension without vasopressors)"),
]


def _resp_texts(low_flow_max_l_min: float) -> list[str]:
    return [
        "",
        "",
        f"low-flow oxygen (nasal cannula <= {low_flow_max_l_min:g} L/min or blow-by)",
        f"high-flow oxygen (nasal cannula > {low_flow_max_l_min:g} L/min, facemask, "
        "non-rebreather or Venturi mask)",
        "positive pressure (CPAP, BiPAP or mechanical ventilation)",
    ]


def _hypotension(f: DailyFeatures, settings: GradingSettings) -> B:
    low_sbp = np.isfinite(f.sbp_min) & (f.sbp_min < f.sbp_limit)
    return np.asarray(f.hypo_event | (low_sbp if settings.sbp_defines_hypotension else False))


def astct_hemo_kind(f: DailyFeatures, settings: GradingSettings) -> npt.NDArray[np.int64]:
    """Index into the ASTCT hypotension kinds for each day."""
    hypo = _hypotension(f, settings)
    vaso_alone = 2 if settings.vasopressin_alone == "vasopressor" else 6
    return select(
        [f.n_press_astct >= 2, (f.n_press_astct == 1) & f.vasopressin, f.n_press_astct == 1,
         f.vasopressin, hypo],
        [5, 4, 3, vaso_alone, 1], 0).astype(np.int64)


_HEMO_LEVEL: Final = np.array([h[0] for h in _HEMO], dtype=np.int8)
_HEMO_LEVEL.setflags(write=False)


#: The criterion (``CRITERIA`` index) of fever, hypotension and hypoxia.
_ASTCT_CRITERIA: Final = np.array([crit("fever"), crit("hypotension"), crit("hypoxia")],
                                  dtype=np.int8)
_ASTCT_CRITERIA.setflags(write=False)


@functools.lru_cache(maxsize=16)
def _astct_reasons(low_flow_max_l_min: float) -> tuple[tuple[str, ...], npt.NDArray[np.int32]]:
    """The ASTCT reason texts of (fever or waiver, hypotension kind, respiratory rank) and
    their codes (read-only), built once per low-flow limit (the only setting in them)."""
    rs = Reasons()
    resp_txt = _resp_texts(low_flow_max_l_min)
    prefixes = ["fever", "no fever needed (CRS established, tocilizumab/corticosteroids given)"]
    lut = np.zeros((2, len(_HEMO), 5), dtype=np.int32)
    for p, prefix in enumerate(prefixes):
        for h, (hl, ht) in enumerate(_HEMO):
            for r in range(5):
                rl = r if r >= 2 else 0
                if hl > rl:
                    detail = ht
                elif rl > hl:
                    detail = resp_txt[r]
                elif hl >= 2:
                    detail = f"{ht} and {resp_txt[r]}"
                else:
                    detail = "no hypotension or hypoxia"
                lut[p, h, r] = rs.code(f"{prefix}; {detail}")
    lut.setflags(write=False)
    return tuple(rs.items), lut


def grade_astct(f: DailyFeatures, settings: GradingSettings) -> Graded:
    """ASTCT 2019 consensus CRS grade for every patient-day."""
    texts, lut = _astct_reasons(settings.low_flow_max_l_min)
    rs = Reasons.of(texts)
    hemo_kind = astct_hemo_kind(f, settings)
    hemo_lvl = _HEMO_LEVEL[hemo_kind]
    resp_lvl = f.o2_rank.astype(np.int8)

    febrile = f.tmax >= settings.fever_c
    temp_known = np.isfinite(f.tmax)
    waived = (settings.fever_waiver & ~febrile & f.established & f.treated & f.waiver_recent
              & f.has_vitals)
    worst = np.maximum(hemo_lvl, resp_lvl)
    grade = select([febrile, waived, temp_known], [np.maximum(worst, 1), worst, 0],
                      -1).astype(np.int8)
    reason = select(
        [febrile, waived],
        [lut[0, hemo_kind, resp_lvl], lut[1, hemo_kind, resp_lvl]],
        np.where(temp_known,
                 np.where(worst > 0,
                          rs.code(f"no fever (< {settings.fever_c:g} C): hypotension or hypoxia "
                                  "without fever is not CRS"),
                          rs.code(f"no fever (< {settings.fever_c:g} C)")),
                 np.where(f.has_vitals, rs.code(NOT_GRADABLE + "no temperature recorded"),
                          rs.code(NOT_GRADABLE + "no temperature, blood pressure or oxygen "
                                                 "information")))).astype(np.int32)
    which = np.where(hemo_lvl >= resp_lvl, np.where(worst >= 2, 1, 0), 2)
    criterion = _ASTCT_CRITERIA[which]
    criterion = np.where(febrile | waived, criterion, crit("fever"))
    criterion = np.where(grade < 0, crit("temperature"), criterion).astype(np.int8)
    grade, reason, criterion = _final_overrides(f, settings, rs, grade, reason, criterion,
                                                use_organ=False)
    return Graded(grade=grade, reason=reason, reasons=rs.items, criterion=criterion)


def _final_overrides(f: DailyFeatures, settings: GradingSettings, rs: Reasons, grade: I8,
                     reason: npt.NDArray[np.int32], criterion: I8,
                     *, use_organ: bool
                     ) -> tuple[I8, npt.NDArray[np.int32], I8]:
    """Death (grade 5 / unknown cause) and invalid input, which override everything else."""
    # (every reason text is coded, in this order, whether or not a day needs it: the texts
    # are the categories of the daily reasons; an override no day needs is skipped)
    crs_death = f.death == 1
    unknown_death = f.death == 4
    death_code = rs.code("death due to CRS")
    unknown_code = rs.code(NOT_GRADABLE + "death with cause not recorded")
    if crs_death.any() or unknown_death.any():
        grade = np.where(crs_death, 5, np.where(unknown_death, -1, grade)).astype(np.int8)
        reason = np.where(crs_death, death_code,
                          np.where(unknown_death, unknown_code, reason)).astype(np.int32)
        criterion = np.where(crs_death | unknown_death, crit("death"),
                             criterion).astype(np.int8)
    msg_codes = np.array([rs.code(NOT_GRADABLE + m) for m in f.messages] or [0], dtype=np.int32)
    invalid = f.crs_problem >= 0
    if use_organ:
        invalid_org = (f.organ_problem >= 0) & ~invalid
        if invalid_org.any():
            reason = np.where(invalid_org, msg_codes[np.maximum(f.organ_problem, 0)],
                              reason).astype(np.int32)
            grade = np.where(invalid_org, -1, grade).astype(np.int8)
            criterion = np.where(invalid_org, crit("invalid input"), criterion).astype(np.int8)
    if invalid.any():
        reason = np.where(invalid, msg_codes[np.maximum(f.crs_problem, 0)],
                          reason).astype(np.int32)
        grade = np.where(invalid, -1, grade).astype(np.int8)
        criterion = np.where(invalid, crit("invalid input"), criterion).astype(np.int8)
    return grade, reason, criterion


# ------------------------------------------------------------------ older scales
def _level(n: int, cond_levels: list[tuple[B, int]], rs: Reasons,
           texts: list[str]) -> tuple[I8, npt.NDArray[np.int32]]:
    """First matching condition sets the level (conditions ordered worst first)."""
    conds = [c for c, _ in cond_levels]
    lv = select(conds, [lv for _, lv in cond_levels], 0).astype(np.int8) if conds \
        else const(n, 0)
    codes = rs.lut([*texts, ""])
    which = select(conds, list(range(len(conds))), len(conds)) if conds else np.zeros(n, int)
    return lv, codes[which]


def _fever_criterion(f: DailyFeatures, settings: GradingSettings, rs: Reasons) -> Criterion:
    n = f.n
    febrile = f.tmax >= settings.fever_c
    known = np.isfinite(f.tmax)
    lo = np.where(febrile, 1, 0).astype(np.int8)
    hi = np.where(febrile | ~known, 1, 0).astype(np.int8)
    why = np.full(n, rs.code(f"fever (>= {settings.fever_c:g} C)"), dtype=np.int32)
    unk = np.full(n, rs.code(NOT_GRADABLE + "no temperature recorded"), dtype=np.int32)
    return Criterion("fever", lo, hi, why, unk)


def _oxygen_criterion(f: DailyFeatures, settings: GradingSettings, rs: Reasons, *,
                      vent_grade: int, niv_grade: int, any_o2_grade: int | None,
                      low_grade: int = 2, high_grade: int = 3) -> Criterion:
    """Ventilation and FiO2-based oxygen criterion shared by the older scales."""
    n = f.n
    cut = settings.fio2_cutoff
    niv = niv_grade if settings.noninvasive_is_ventilation else high_grade
    o2 = f.o2_any & (f.vent == 0)
    fio2_known = np.isfinite(f.fio2)
    if any_o2_grade is not None:
        lo = select([f.vent == 2, f.vent == 1, o2], [vent_grade, niv, any_o2_grade], 0)
        hi = lo
        texts = ["mechanical ventilation", "non-invasive positive pressure ventilation",
                 "any supplemental oxygen"]
        conds = [f.vent == 2, f.vent == 1, o2]
    else:
        lo = select([f.vent == 2, f.vent == 1, o2 & fio2_known & (f.fio2 >= cut),
                        o2 & fio2_known & (f.fio2 < cut), o2],
                       [vent_grade, niv, high_grade, low_grade, low_grade], 0)
        hi = np.where(o2 & ~fio2_known, high_grade, lo)
        texts = ["mechanical ventilation", "non-invasive positive pressure ventilation",
                 f"oxygen with FiO2 >= {cut:.0%}", f"oxygen with FiO2 < {cut:.0%}",
                 "oxygen with FiO2 unknown"]
        conds = [f.vent == 2, f.vent == 1, o2 & fio2_known & (f.fio2 >= cut),
                 o2 & fio2_known & (f.fio2 < cut), o2]
    _, why = _level(n, [(c, 0) for c in conds], rs, texts)
    unk = np.full(n, rs.code(NOT_GRADABLE + "oxygen given but FiO2 not recorded"), np.int32)
    return Criterion("hypoxia", lo.astype(np.int8), hi.astype(np.int8), why, unk)


def _pressor_criterion(f: DailyFeatures, settings: GradingSettings, rs: Reasons, *,
                       hypo_grade: int, low_grade: int, high_grade: int,
                       multiple_grade: int | None) -> Criterion:
    """Hypotension by fluids / low-dose / high-dose / multiple vasopressors (Lee-style)."""
    hypo = _hypotension(f, settings)
    on = f.n_press_all > 0
    multi = (f.n_press_all >= 2) if multiple_grade is not None else np.zeros(f.n, bool)
    mg = multiple_grade if multiple_grade is not None else 0
    lo = select([multi & (f.high_dose == 1), multi, on & (f.high_dose == 1), on, hypo],
                   [max(mg, high_grade), mg, high_grade, low_grade, hypo_grade], 0)
    hi = np.where(on & (f.high_dose == -1), np.maximum(lo, high_grade), lo)
    texts = ["high-dose vasopressors", "multiple vasopressors", "high-dose vasopressor",
             "low-dose vasopressor(s)", "hypotension responsive to fluids"]
    _, why = _level(f.n, [(c, 0) for c in [multi & (f.high_dose == 1), multi,
                                          on & (f.high_dose == 1), on, hypo]], rs, texts)
    unk = np.full(f.n, rs.code(NOT_GRADABLE + "vasopressor dose, weight or duration unknown "
                                              "(high-dose rule)"), np.int32)
    return Criterion("hypotension", lo.astype(np.int8), hi.astype(np.int8), why, unk)


def _organ_criterion(f: DailyFeatures, rs: Reasons, *, table: str) -> Criterion:
    n = f.n
    other = np.maximum(f.organ_kidney, f.organ_other)
    liver = f.organ_liver
    if table == "penn":
        lvl = select([f.organ_kidney >= 3, liver >= 4, f.organ_kidney == 2, liver == 3],
                        [3, 3, 2, 2], 0)
        texts = ["grade 3 creatinine", "grade 4 liver tests", "grade 2 creatinine",
                 "grade 3 liver tests"]
        conds = [f.organ_kidney >= 3, liver >= 4, f.organ_kidney == 2, liver == 3]
    else:
        g1 = 1 if table == "cartox" else 0
        conds = [other >= 4, other == 3, liver >= 4, liver == 3, (other == 2) | (liver == 2),
                 (other == 1) | (liver == 1)]
        lvl = select(conds, [4, 3, 3, 3, 2, g1], 0)
        texts = ["grade 4 organ toxicity", "grade 3 organ toxicity", "grade 4 transaminitis",
                 "grade 3 organ toxicity", "grade 2 organ toxicity", "grade 1 organ toxicity"]
    _, why = _level(n, [(c, 0) for c in conds], rs, texts)
    lv = lvl.astype(np.int8)
    return Criterion("organ toxicity", lv, lv.copy(), why, np.zeros(n, np.int32))


def _combine_older(f: DailyFeatures, settings: GradingSettings, rs: Reasons,
                   criteria: list[Criterion], *, use_organ: bool) -> Graded:
    lo, hi, reason, idx = combine(criteria)
    names = np.array([crit(c.name) for c in criteria], dtype=np.int8)[idx]
    grade = np.where(lo == hi, lo, -1).astype(np.int8)
    none_met = (lo == 0) & (hi == 0)
    reason = np.where(none_met, rs.code("no criterion met"), reason).astype(np.int32)
    names = np.where(none_met, crit("none"), names).astype(np.int8)
    if settings.older_scales_need_fever_episode:
        # before the first febrile day, nothing is CRS; unknown onset leaves the day open
        known_before = ~f.established & np.isfinite(f.tmax)
        unknown_before = ~f.established & ~np.isfinite(f.tmax)
        grade = np.where(known_before, 0, np.where(unknown_before & (hi > 0), -1, grade))
        grade = grade.astype(np.int8)
        reason = np.where(known_before & (hi > 0),
                          rs.code("before the first fever (not counted as CRS)"),
                          np.where(unknown_before & (hi > 0),
                                   rs.code(NOT_GRADABLE + "no temperature recorded"),
                                   reason)).astype(np.int32)
        names = np.where((known_before | unknown_before) & (hi > 0), crit("fever"),
                         names).astype(np.int8)
    no_info = ~f.has_crs_info
    grade = np.where(no_info, -1, grade).astype(np.int8)
    reason = np.where(no_info, rs.code(NOT_GRADABLE + "no CRS information"), reason)
    grade, reason, names = _final_overrides(f, settings, rs, grade, reason.astype(np.int32),
                                            names, use_organ=use_organ)
    return Graded(grade=grade, reason=reason, reasons=rs.items, criterion=names)


def grade_lee2014(f: DailyFeatures, settings: GradingSettings) -> Graded:
    rs = Reasons()
    crit = [
        _fever_criterion(f, settings, rs),
        _pressor_criterion(f, settings, rs, hypo_grade=2, low_grade=2, high_grade=3,
                           multiple_grade=3),
        _oxygen_criterion(f, settings, rs, vent_grade=4, niv_grade=4, any_o2_grade=None),
        _organ_criterion(f, rs, table="lee2014"),
    ]
    return _combine_older(f, settings, rs, crit, use_organ=True)


def grade_penn(f: DailyFeatures, settings: GradingSettings) -> Graded:
    rs = Reasons()
    crit = [
        _fever_criterion(f, settings, rs),
        _pressor_criterion(f, settings, rs, hypo_grade=2, low_grade=3, high_grade=4,
                           multiple_grade=None),
        _oxygen_criterion(f, settings, rs, vent_grade=4, niv_grade=4, any_o2_grade=3),
        _organ_criterion(f, rs, table="penn"),
    ]
    return _combine_older(f, settings, rs, crit, use_organ=True)


def grade_cartox(f: DailyFeatures, settings: GradingSettings) -> Graded:
    rs = Reasons()
    crit = [
        _fever_criterion(f, settings, rs),
        _pressor_criterion(f, settings, rs, hypo_grade=2, low_grade=2, high_grade=3,
                           multiple_grade=3),
        _oxygen_criterion(f, settings, rs, vent_grade=4, niv_grade=4, any_o2_grade=None),
        _organ_criterion(f, rs, table="cartox"),
    ]
    return _combine_older(f, settings, rs, crit, use_organ=True)


def grade_mskcc(f: DailyFeatures, settings: GradingSettings) -> Graded:
    rs = Reasons()
    n = f.n
    on = f.n_press_all > 0
    hypo = _hypotension(f, settings)
    run = f.pressor_run_hours
    long_ = settings.mskcc_long_vasopressor_hours
    run_known = np.isfinite(run)
    base_lo = select([on & run_known & (run >= long_), on, hypo], [3, 2, 1], 0)
    base_hi = np.where(on & ~run_known, 3, base_lo)
    lo = np.where(on & (f.high_dose == 1), 4, base_lo).astype(np.int8)
    hi = np.where(on & (f.high_dose != 0), 4, base_hi).astype(np.int8)
    conds = [on & (f.high_dose == 1), on & run_known & (run >= long_), on, hypo]
    texts = ["high-dose vasopressors (taken as refractory hypotension)",
             f"vasopressors for >= {long_:g} h", f"vasopressors for < {long_:g} h",
             "hypotension managed with fluids (supportive care)"]
    _, why = _level(n, [(c, 0) for c in conds], rs, texts)
    unk = np.where(on & (f.high_dose == -1) & run_known,
                   rs.code(NOT_GRADABLE + "vasopressor dose, weight or duration unknown "
                                          "(high-dose rule)"),
                   rs.code(NOT_GRADABLE + "vasopressor duration unknown")).astype(np.int32)
    pressor = Criterion("hypotension", lo, hi, why, unk)
    crit = [
        _fever_criterion(f, settings, rs),
        pressor,
        _oxygen_criterion(f, settings, rs, vent_grade=4, niv_grade=4, any_o2_grade=None),
    ]
    return _combine_older(f, settings, rs, crit, use_organ=False)


def grade_ctcae5(f: DailyFeatures, settings: GradingSettings) -> Graded:
    rs = Reasons()
    n = f.n
    hypo = _hypotension(f, settings)
    conds = [f.n_press_all >= 2, f.n_press_all == 1, hypo]
    lv, why = _level(n, [(conds[0], 4), (conds[1], 3), (conds[2], 2)], rs,
                     ["several vasopressors (taken as life-threatening)",
                      "hypotension managed with one vasopressor",
                      "hypotension responding to fluids"])
    pressor = Criterion("hypotension", lv, lv.copy(), why, np.zeros(n, np.int32))
    crit = [
        _fever_criterion(f, settings, rs),
        pressor,
        _oxygen_criterion(f, settings, rs, vent_grade=4, niv_grade=4, any_o2_grade=None),
    ]
    return _combine_older(f, settings, rs, crit, use_organ=False)


GRADERS = {
    "astct": grade_astct,
    "lee2014": grade_lee2014,
    "penn": grade_penn,
    "mskcc": grade_mskcc,
    "cartox": grade_cartox,
    "ctcae5": grade_ctcae5,
}
