"""Minimum sample size to develop a logistic prediction model (Riley et al., BMJ 2020).

Three criteria, as R ``pmsampsize(type = "b")``:

1. expected uniform shrinkage of the coefficients >= 0.9 (small overfitting):
   ``n = p / ((S - 1) ln(1 - R2_cs / S))``;
2. small optimism in the apparent Nagelkerke R2 (difference <= 0.05): criterion 1 with
   ``S = R2_cs / (R2_cs + 0.05 max(R2_cs))``;
3. the overall risk estimated within +-0.05 (95 %): ``n = (1.96 / 0.05)^2 phi (1 - phi)``.

``R2_cs`` is the anticipated Cox-Snell R2: given, derived from an anticipated Nagelkerke R2
(``R2_cs = R2_nag * max(R2_cs)``), or from an anticipated C statistic by the approximation of
Riley, Van Calster & Collins (2021) that pmsampsize uses.  pmsampsize simulates a million
linear predictors (events N(mu, 1), non-events N(0, 1), ``mu = sqrt(2) Phi^-1(C)``) and fits
a logistic regression; here the same large-sample limit is computed exactly (under that model
the log-odds are linear in the predictor, so the expected log-likelihood is a one-dimensional
Gauss-Hermite integral).  The two differ by the simulation error (< 0.002 in R2).

References
----------
Riley RD et al. Calculating the sample size required for developing a clinical prediction
model. BMJ 2020;368:m441.
Riley RD et al. Minimum sample size for developing a multivariable prediction model: part II
- binary and time-to-event outcomes. Stat Med 2019;38:1276-96.
Riley RD, Van Calster B, Collins GS. A note on estimating the Cox-Snell R2 from a reported C
statistic (AUROC) to inform sample size calculations for developing a prediction model with a
binary outcome. Stat Med 2021;40:859-64.
Ensor J, Martin EC, Riley RD. pmsampsize: sample size for development of a prediction model
(R package).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from crsscore.errors import SampleSizeWarning

__all__ = [
    "DEFAULT_C_STATISTIC",
    "Criterion",
    "SampleSize",
    "check_sample_size",
    "cstat_to_r2",
    "max_r2_cs",
    "sample_size",
]

#: Anticipated C statistic assumed by :func:`check_sample_size` when nothing better is known:
#: a modest model.  With 15 % prevalence and 10 parameters it asks for about 820-850 patients
#: (the figure in the project's statistics spec).
DEFAULT_C_STATISTIC = 0.75

_Z = 1.96  # pmsampsize uses 1.96, not qnorm(0.975)


def _check_prob(value: float, name: str, func: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise ValueError(
            f"The '{name}' parameter of {func} must be a float in the range (0, 1). "
            f"Got {value!r} instead."
        )
    return float(value)


def _check_parameters(value: int, func: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValueError(
            f"The 'n_parameters' parameter of {func} must be an int >= 1 (candidate predictor "
            f"parameters, not variables). Got {value!r} instead."
        )
    return int(value)


def max_r2_cs(prevalence: float) -> float:
    """Largest possible Cox-Snell R2 for an outcome with this prevalence:
    ``1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi)))``."""
    phi = _check_prob(prevalence, "prevalence", "max_r2_cs")
    ln_null = phi * math.log(phi) + (1.0 - phi) * math.log(1.0 - phi)
    return 1.0 - math.exp(2.0 * ln_null)


def cstat_to_r2(c_statistic: float, prevalence: float, *, nodes: int = 200) -> float:
    """Cox-Snell R2 implied by a C statistic and a prevalence (Riley et al. 2021).

    Exact large-sample value of pmsampsize's ``cstat2rsq`` (which estimates it by simulating
    a million patients).
    """
    c = _check_prob(c_statistic, "c_statistic", "cstat_to_r2")
    if c <= 0.5:
        raise ValueError(
            "The 'c_statistic' parameter of cstat_to_r2 must be above 0.5 (a model that "
            f"discriminates). Got {c_statistic!r} instead."
        )
    phi = _check_prob(prevalence, "prevalence", "cstat_to_r2")
    mu = math.sqrt(2.0) * float(stats.norm.ppf(c))
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    a = math.log(phi / (1.0 - phi)) - mu * mu / 2.0  # true log-odds: a + mu * lp
    ll_events = float(np.sum(w * -np.logaddexp(0.0, -(a + mu * (x + mu)))))
    ll_nonevents = float(np.sum(w * -np.logaddexp(0.0, a + mu * x)))
    ll = phi * ll_events + (1.0 - phi) * ll_nonevents
    ll0 = phi * math.log(phi) + (1.0 - phi) * math.log(1.0 - phi)
    return 1.0 - math.exp(-2.0 * (ll - ll0))


@dataclass(frozen=True)
class Criterion:
    """One of Riley's criteria: the sample size it needs and what it implies."""

    name: str
    description: str
    n: int
    shrinkage: float
    events: float
    epp: float


@dataclass(frozen=True)
class SampleSize:
    """Result of :func:`sample_size`: the largest of the three criteria wins.

    Attributes
    ----------
    n, events, epp : minimum patients, the events expected among them, events per parameter.
    shrinkage : expected shrinkage at that size (the larger of the target and criterion 2's).
    criteria : the three criteria (``to_frame()`` shows them like pmsampsize's table).
    r2_cs, r2_nagelkerke, max_r2 : anticipated Cox-Snell R2, the Nagelkerke R2 it implies
        and the largest Cox-Snell R2 possible at this prevalence.
    r2_source : "given", "Nagelkerke R2" or "C statistic".
    """

    n: int
    events: float
    epp: float
    shrinkage: float
    criteria: tuple[Criterion, ...]
    prevalence: float
    n_parameters: int
    r2_cs: float
    r2_nagelkerke: float
    max_r2: float
    r2_source: str
    c_statistic: float | None
    target_shrinkage: float
    margin: float
    r2_difference: float

    @property
    def binding(self) -> Criterion:
        """The criterion that sets the sample size."""
        return max(self.criteria, key=lambda c: c.n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {"criterion": c.name, "description": c.description, "n": c.n,
             "shrinkage": c.shrinkage, "events": c.events, "EPP": c.epp}
            for c in self.criteria
        ]
        rows.append({"criterion": "Final", "description": f"largest ({self.binding.name})",
                     "n": self.n, "shrinkage": self.shrinkage, "events": self.events,
                     "EPP": self.epp})
        frame = pd.DataFrame(rows).set_index("criterion")
        frame["parameters"] = self.n_parameters
        frame["CS_Rsq"] = self.r2_cs
        frame["Max_Rsq"] = self.max_r2
        frame["Nag_Rsq"] = self.r2_nagelkerke
        return frame

    def summary(self) -> str:
        src = (
            f" (from C statistic {self.c_statistic:g})" if self.r2_source == "C statistic"
            else f" (from Nagelkerke R2 {self.r2_nagelkerke:.3f})"
            if self.r2_source == "Nagelkerke R2" else ""
        )
        lines = [
            f"Minimum sample size (Riley et al. 2020): {self.n} patients with "
            f"{math.ceil(self.events)} events (prevalence {self.prevalence:g}), "
            f"{self.epp:.2f} events per candidate parameter ({self.n_parameters} parameters).",
            f"Anticipated Cox-Snell R2 {self.r2_cs:.4f}{src}; maximum possible "
            f"{self.max_r2:.4f}.",
        ]
        for c in self.criteria:
            lines.append(f"  {c.name}: n = {c.n} ({c.description}; EPP {c.epp:.2f})")
        return "\n".join(lines)


def _n_for_shrinkage(p: int, r2: float, s: float) -> int:
    return math.ceil(p / ((s - 1.0) * math.log(1.0 - r2 / s)))


def sample_size(
    prevalence: float,
    n_parameters: int,
    *,
    r2_cs: float | None = None,
    r2_nagelkerke: float | None = None,
    c_statistic: float | None = None,
    shrinkage: float = 0.9,
    r2_difference: float = 0.05,
    margin: float = 0.05,
    legacy_rounding: bool = False,
) -> SampleSize:
    """Riley's minimum sample size for a logistic model with ``n_parameters`` candidate
    parameters; give exactly one of ``r2_cs``, ``r2_nagelkerke`` and ``c_statistic``.

    ``legacy_rounding=True`` rounds the maximum R2 to 2 and criterion 2's shrinkage to 3
    decimals before use, as pmsampsize 1.0.x did (its published test values, e.g. 668 instead
    of 662 for the example below); current pmsampsize does not round.

    Examples
    --------
    The pmsampsize README example (type "b", csrsquared 0.288, 24 parameters, prevalence
    0.174):

    >>> sample_size(0.174, 24, r2_cs=0.288).n
    662
    """
    func = "sample_size"
    phi = _check_prob(prevalence, "prevalence", func)
    p = _check_parameters(n_parameters, func)
    s_target = _check_prob(shrinkage, "shrinkage", func)
    delta = _check_prob(r2_difference, "r2_difference", func)
    margin = _check_prob(margin, "margin", func)
    given = [k for k, v in (("r2_cs", r2_cs), ("r2_nagelkerke", r2_nagelkerke),
                            ("c_statistic", c_statistic)) if v is not None]
    if len(given) != 1:
        raise ValueError(
            "sample_size needs exactly one of 'r2_cs', 'r2_nagelkerke' and 'c_statistic' "
            f"(the anticipated model performance). Got {given or 'none'}."
        )
    max_r2 = max_r2_cs(phi)
    if r2_cs is not None:
        r2 = _check_prob(r2_cs, "r2_cs", func)
        source = "given"
    elif r2_nagelkerke is not None:
        r2 = _check_prob(r2_nagelkerke, "r2_nagelkerke", func) * max_r2
        source = "Nagelkerke R2"
    else:
        assert c_statistic is not None
        r2 = cstat_to_r2(c_statistic, phi)
        source = "C statistic"
    if r2 >= max_r2:
        raise ValueError(
            f"The anticipated Cox-Snell R2 ({r2:.4f}) is not below the largest possible at "
            f"prevalence {phi:g} ({max_r2:.4f}); check the inputs."
        )
    if r2 >= s_target:
        raise ValueError(
            f"The anticipated Cox-Snell R2 ({r2:.4f}) must be below the target shrinkage "
            f"({s_target:g})."
        )

    def crit(name: str, desc: str, n: int, s: float) -> Criterion:
        return Criterion(name, desc, n, s, n * phi, n * phi / p)

    if legacy_rounding:
        max_r2 = round(max_r2, 2)
    n1 = _n_for_shrinkage(p, r2, s_target)
    s2 = r2 / (r2 + delta * max_r2)
    if legacy_rounding:
        s2 = round(s2, 3)
    n2 = _n_for_shrinkage(p, r2, s2)
    n3 = math.ceil((_Z / margin) ** 2 * phi * (1.0 - phi))
    s_final = max(s2, s_target)
    criteria = (
        crit("Criterion 1", f"expected shrinkage >= {s_target:g}", n1, s_target),
        crit("Criterion 2", f"optimism in Nagelkerke R2 <= {delta:g}", n2, s2),
        crit("Criterion 3", f"overall risk within +-{margin:g}", n3, s_final),
    )
    n = max(n1, n2, n3)
    return SampleSize(
        n, n * phi, n * phi / p, s_final, criteria, phi, p, r2, r2 / max_r2, max_r2, source,
        None if c_statistic is None else float(c_statistic), s_target, margin, delta,
    )


def check_sample_size(
    n: int,
    events: int,
    n_parameters: int,
    *,
    r2_cs: float | None = None,
    c_statistic: float | None = None,
    shrinkage: float = 0.9,
    warn: bool = False,
) -> tuple[bool, str]:
    """Is a cohort of ``n`` patients with ``events`` events large enough to develop a model
    with ``n_parameters`` candidate parameters?  Returns ``(ok, text)``.

    The anticipated performance is ``r2_cs``, else ``c_statistic``, else
    :data:`DEFAULT_C_STATISTIC`; the prevalence is the cohort's.  With ``warn=True`` a
    :class:`~crsscore.errors.SampleSizeWarning` carrying the text is issued when the cohort is
    too small (derivation calls it so).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"The 'n' parameter of check_sample_size must be an int >= 1. Got {n!r} instead.")
    if isinstance(events, bool) or not isinstance(events, int | np.integer) or not 0 <= events <= n:
        raise ValueError(
            f"The 'events' parameter of check_sample_size must be an int in [0, n={n}]. "
            f"Got {events!r} instead."
        )
    p = _check_parameters(n_parameters, "check_sample_size")
    if events == 0 or events == n:
        text = (
            f"The cohort has {events} events in {n} patients: no model can be developed "
            "(both outcomes are needed)."
        )
        if warn:
            warnings.warn(text, SampleSizeWarning, stacklevel=2)
        return False, text
    if r2_cs is not None:
        need = sample_size(events / n, p, r2_cs=r2_cs, shrinkage=shrinkage)
    else:
        c = c_statistic if c_statistic is not None else DEFAULT_C_STATISTIC
        need = sample_size(events / n, p, c_statistic=c, shrinkage=shrinkage)
    assumed = (
        f"Cox-Snell R2 {need.r2_cs:.3f}" if r2_cs is not None
        else f"C statistic {need.c_statistic:g} (Cox-Snell R2 {need.r2_cs:.3f})"
    )
    epp = events / p
    if n >= need.n:
        return True, (
            f"{n} patients ({events} events, {epp:.1f} per candidate parameter) meet Riley's "
            f"minimum of {need.n} for {p} parameters at prevalence {events / n:.3f}, assuming "
            f"{assumed}."
        )
    text = (
        f"The cohort is smaller than Riley's minimum sample size: {n} patients ({events} "
        f"events, {epp:.1f} per candidate parameter) for {p} candidate parameters, but "
        f"{need.n} are needed ({need.binding.name.lower()}: {need.binding.description}), "
        f"assuming {assumed} at prevalence {events / n:.3f}. Expect overfitting: reduce the "
        "candidate parameters, use penalised (Firth/LASSO) estimation and report the "
        "optimism-corrected performance and shrinkage."
    )
    if warn:
        warnings.warn(text, SampleSizeWarning, stacklevel=2)
    return False, text
