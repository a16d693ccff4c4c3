"""A refit of the Teachey et al. (Cancer Discov 2016;6:664) three-cytokine structure.

Teachey's coefficients are not public, so crsscore never ships "Teachey's model".  It offers
the *structure* refitted on the centre's own patients: a logistic regression of severe CRS on
the log10 peak values, within the first 72 h after infusion, of

* ``cohort`` structure (whole cohort): sgp130 (ng/mL), IFN-gamma and IL-1RA (pg/mL);
* ``paediatric`` structure (children): IFN-gamma, IL-13 and MIP-1alpha (pg/mL).

The result is a score card labelled ``verification = "refit"`` whose name and notes say it is
a local refit.  Its apparent performance is optimistic (three coefficients estimated on the
same patients); validate it like any derived score.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import pandas as pd

from crsscore import __version__
from crsscore._numeric import rank_auc
from crsscore.data.cohort import Cohort
from crsscore.data.schema import ANALYTES
from crsscore.errors import ModelError
from crsscore.modeling.logistic import LogisticFit, fit_logistic
from crsscore.scores.cohort_inputs import card_inputs
from crsscore.scores.scorecard import Performance, ProbabilityMap, Provenance, ScoreCard, Variable

STRUCTURES: Final[dict[str, tuple[str, ...]]] = {
    "cohort": ("sgp130", "ifng", "il1ra"),
    "paediatric": ("ifng", "il13", "mip1a"),
}
CITATION: Final = ("Teachey DT et al. Identification of predictive biomarkers for cytokine "
                   "release syndrome after chimeric antigen receptor T-cell therapy for acute "
                   "lymphoblastic leukemia. Cancer Discov 2016;6:664-79.")
WINDOW: Final = (0.0, 3.0)


def _variables(names: tuple[str, ...], coefs: dict[str, float]) -> list[Variable]:
    out = []
    for name in names:
        a = ANALYTES[name]
        out.append(Variable(
            name=name, label=f"peak {a.label}, days 0-3", kind="linear", source="observation",
            unit=a.unit, unit_kind=name, loinc=a.loinc, day_window=WINDOW, aggregate="max",
            transform="log10", coefficient=coefs.get(name, 0.0),
            plausible_range=(a.low, a.high)))
    return out


def teachey_refit(cohort: Cohort, outcome: pd.DataFrame, *,
                  structure: Literal["cohort", "paediatric"] = "cohort",
                  outcome_col: str = "severe_crs", firth: bool = True) -> tuple[ScoreCard, LogisticFit]:
    """Refit the Teachey structure on ``cohort`` (patients with all three cytokines).

    ``outcome`` holds ``patient_id`` and the 0/1 ``outcome_col``.  Values at or below zero are
    set to the analyte's quantification floor before log10.  Firth's method is the default
    (three parameters on few events).  Raises :class:`ModelError` when fewer than 10 patients
    or no events have all three values.
    """
    if structure not in STRUCTURES:
        raise ModelError(f"structure must be one of {', '.join(STRUCTURES)}; got {structure!r}")
    names = STRUCTURES[structure]
    template = ScoreCard(id=f"teachey-refit-{structure}", name="template",
                         variables=_variables(names, {}))
    inputs = card_inputs(template, cohort)
    vals = inputs.values.reset_index()
    merged = vals.merge(outcome[["patient_id", outcome_col]], on="patient_id", how="inner")
    ok = merged[list(names)].notna().all(axis=1) & merged[outcome_col].notna()
    used = merged[ok]
    y = used[outcome_col].to_numpy(dtype=np.int_)
    if len(used) < 10 or y.sum() == 0 or y.sum() == len(y):
        raise ModelError(
            f"Teachey-structure refit needs patients with {', '.join(names)} measured on days 0-3 "
            f"and both outcomes; found {len(used)} patient(s) with {int(y.sum())} event(s) "
            f"({int((~ok).sum())} lacked a value)")
    raw = used[list(names)].to_numpy(dtype=np.float64)
    if (raw <= 0).any():
        bad = [n for j, n in enumerate(names) if (raw[:, j] <= 0).any()]
        raise ModelError(f"Teachey-structure refit: values <= 0 in {', '.join(bad)} cannot be "
                         "log-transformed; record values below the limit of quantification as "
                         "that limit")
    X = np.log10(raw)
    fit = fit_logistic(X, y, names=[f"log10 {n}" for n in names], firth=firth)
    coefs = {n: float(c) for n, c in zip(names, fit.coef[1:], strict=True)}
    auc = rank_auc(y, fit.predict_lp(X))
    card = ScoreCard(
        id=f"teachey-refit-{structure}",
        name=f"Teachey-structure refit ({structure}; LOCAL REFIT, not Teachey's model)",
        description=("Logistic regression on log10 peak cytokines in the first 72 h, with the "
                     "variables of Teachey et al. 2016 and coefficients estimated on this "
                     "centre's patients."),
        kind="points", landmark="day0", variables=_variables(names, coefs),
        intercept=float(fit.coef[0]),
        probability=ProbabilityMap(kind="logistic", intercept=0.0, slope=1.0),
        uses_cytokines_after_tocilizumab_warning=True,
        provenance=Provenance(
            software_version=__version__, data_hash=cohort.data_hash(),
            synthetic_data=cohort.synthetic, citation=CITATION, doi="10.1158/2159-8290.CD-16-0040",
            verification="refit",
            method=f"{'Firth' if firth else 'ML'} logistic regression on log10 peak values, days 0-3",
            notes=["structure of Teachey et al. refitted locally; the published coefficients "
                   "are not public", "apparent performance is optimistic"]),
        performance=Performance(n=len(y), events=int(y.sum()), auc_apparent=auc),
    )
    return card, fit

