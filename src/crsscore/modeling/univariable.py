"""Univariable logistic regression table: one row per candidate predictor.

Each candidate is transformed as asked (``"log10"`` for right-skewed labs, a number for per-unit
scaling: the OR is then per that many units), fitted alone on the rows where it is observed,
and reported with n used, n missing, events, OR with Wald and profile-likelihood 95 % CIs
(profile CI as R ``confint(glm)`` / MASS), Wald and likelihood-ratio p and the AUC.

Univariable screening is shown for description only: selecting predictors on it is a PROBAST
pitfall (see the report module).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from crsscore._numeric import rank_auc
from crsscore._types import FloatArray
from crsscore.errors import ModelError, SeparationWarning
from crsscore.modeling.firth import profile_ci
from crsscore.modeling.logistic import fit_logistic

Transform = str | float | int | Callable[[FloatArray], FloatArray] | None


def apply_transform(x: FloatArray, transform: Transform, name: str) -> tuple[FloatArray, str]:
    """Apply one transform; return the values and a human description of what was done."""
    if transform is None or transform == "identity" or transform == "none":
        return x, "none"
    if isinstance(transform, str):
        if transform == "log10":
            bad = np.isfinite(x) & (x <= 0)
            if np.any(bad):
                raise ModelError(
                    f"column '{name}': log10 transform needs positive values; "
                    f"{int(bad.sum())} value(s) are <= 0 (use 'log10p1' for log10(x + 1))"
                )
            return np.log10(x), "log10"
        if transform == "log10p1":
            return np.log10(x + 1.0), "log10(x + 1)"
        if transform == "log2":
            return np.log2(x), "log2"
        raise ModelError(
            f"column '{name}': unknown transform {transform!r} "
            "(expected 'log10', 'log10p1', 'log2', 'identity', a number or a function)"
        )
    if isinstance(transform, int | float):
        if transform == 0 or not math.isfinite(float(transform)):
            raise ModelError(f"column '{name}': scaling unit must be a non-zero number")
        return x / float(transform), f"per {transform:g} units"
    out = np.asarray(transform(x), dtype=np.float64)
    return out, getattr(transform, "__name__", "function")


def _exp(v: float) -> float:
    return math.exp(v) if v < 700 else math.inf


def _default_transform(name: str) -> Transform:
    from crsscore.data.schema import ANALYTES

    base = name.split("_")[0].lower()
    a = ANALYTES.get(base)
    return "log10" if a is not None and a.skewed else None


def univariable_table(
    frame: pd.DataFrame,
    outcome: str,
    candidates: Sequence[str],
    transforms: Mapping[str, Transform] | None = None,
    *,
    level: float = 0.95,
    profile: bool = True,
) -> pd.DataFrame:
    """Univariable logistic regression of ``outcome`` on each candidate in turn.

    ``transforms`` maps a candidate to ``"log10"``, ``"log10p1"``, ``"log2"``, ``"identity"``,
    a number (per-unit scaling) or a function.  Candidates not in the mapping (or when it is
    None) are log10-transformed when they name a right-skewed analyte of
    :data:`crsscore.data.schema.ANALYTES` (e.g. ``crp``, ``ferritin_d0``) and used as is
    otherwise.

    Returns one row per candidate with columns ``variable, transform, n, n_missing, events,
    coef, se, OR, OR lower/upper <level> (Wald), OR lower/upper <level> (profile), p, p_lr,
    AUC, note``.
    """
    missing = [c for c in [outcome, *candidates] if c not in frame.columns]
    if missing:
        raise ModelError(f"column(s) not in the data: {', '.join(missing)}")
    yall = pd.to_numeric(frame[outcome], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    lev = f"{100 * level:g}%"
    rows: list[dict[str, object]] = []
    for name in candidates:
        col = frame[name]
        if col.dtype == bool or str(col.dtype) == "boolean":
            col = col.astype("Float64")
        xnum = pd.to_numeric(col, errors="coerce")
        bad_text = int((xnum.isna() & col.notna()).sum())
        if bad_text:
            raise ModelError(
                f"column '{name}': {bad_text} value(s) are not numbers; encode categories as 0/1 first"
            )
        x = xnum.to_numpy(dtype=np.float64, na_value=np.nan)
        tr = transforms.get(name) if transforms is not None and name in transforms else _default_transform(name)
        xt, desc = apply_transform(x, tr, name)
        use = np.isfinite(xt) & np.isfinite(yall)
        n_missing = int(np.sum(~np.isfinite(x) & np.isfinite(yall)))
        xs, ys = xt[use], yall[use]
        row: dict[str, object] = {
            "variable": name, "transform": desc, "n": int(use.sum()), "n_missing": n_missing,
            "events": int(ys.sum()),
        }
        note = ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_logistic(xs.reshape(-1, 1), ys, names=[name])
        if any(issubclass(w.category, SeparationWarning) for w in caught):
            note = "separation: ML estimate does not exist"
        b, se = float(fit.coef[1]), float(fit.se[1])
        row.update({"coef": b, "se": se, "OR": _exp(b)})
        row[f"OR lower {lev} (Wald)"] = _exp(b - q * se)
        row[f"OR upper {lev} (Wald)"] = _exp(b + q * se)
        if profile and not note:
            ci = profile_ci(fit, xs, ys, level=level, which=[1])[0]
            row[f"OR lower {lev} (profile)"] = math.exp(ci[0]) if np.isfinite(ci[0]) else 0.0
            row[f"OR upper {lev} (profile)"] = math.exp(ci[1]) if np.isfinite(ci[1]) else math.inf
        else:
            row[f"OR lower {lev} (profile)"] = math.nan
            row[f"OR upper {lev} (profile)"] = math.nan
        row["p"] = float(2.0 * stats.norm.sf(abs(b / se)))
        row["p_lr"] = float(stats.chi2.sf(fit.lr_chi2, 1))
        row["AUC"] = rank_auc(ys, b * xs)
        row["note"] = note
        rows.append(row)
    return pd.DataFrame(rows)
