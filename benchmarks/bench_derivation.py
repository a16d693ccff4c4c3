"""Derivation benchmarks quoted in BENCHMARKS.md.

1. Patients scored per second from a score card (one million patients): ``score_frame`` on a
   card derived by ``PointScoreModel``, beside statsmodels predicting the same banded logistic
   model (``Logit(...).fit().predict`` on the dummy-coded design), in the same run; the
   probabilities are checked to agree.
2. One multiple imputation of a 125 x 8 design: crsscore's ``norm`` engine beside
   scikit-learn's IterativeImputer (``sample_posterior=True``), and one whole derivation fit
   (m = 1) with each engine.

Run from the repository root::

    .venv/bin/python benchmarks/bench_derivation.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from crsscore.data.simulate import simulate_cohort
from crsscore.modeling.derivation import DerivationSettings, PointScoreModel
from crsscore.modeling.imputation import impute_chained
from crsscore.modeling.points import categorise
from crsscore.scores.evaluate import score_frame
from crsscore.workflow import cohort_outcomes, derive


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    cohort = simulate_cohort(125, seed=1)
    run = derive(cohort, landmark="day7", prior_outcome="keep",
                 settings=DerivationSettings(seed=1), outcomes=cohort_outcomes(cohort))
    model, card = run.model, run.scorecard
    data = run.landmark.data
    names = list(model.scored_)  # the variables on the card (a selected one may score 0)

    # --- 1. scoring a million patients --------------------------------------------------
    rng = np.random.default_rng(0)
    big = data[names].sample(args.n, replace=True, random_state=1).reset_index(drop=True)
    big = big.fillna(big.median())
    for c in names:  # jitter so values are not all copies
        big[c] = big[c] * np.exp(rng.normal(0, 0.05, len(big)))
    t_card = best_of(lambda: score_frame(card, big))
    p_card = score_frame(card, big)["probability"].to_numpy()

    # statsmodels: the same banded model, fitted once on the derivation data, then predict
    def dummies(frame: pd.DataFrame) -> np.ndarray:
        cols = [np.ones(len(frame))]
        for n in names:
            band = categorise(frame[n].to_numpy(dtype=float), model.cuts_[n])
            cols += [(band == b).astype(float) for b in range(1, len(model.cuts_[n]) + 1)]
        return np.column_stack(cols)

    y = data["severe_crs"].to_numpy(dtype=int)
    train = data[names].fillna(data[names].median())
    sm_fit = sm.Logit(y, dummies(train)).fit(disp=0, method="bfgs", maxiter=200)
    t_sm = best_of(lambda: sm_fit.predict(dummies(big)))
    # the card maps integer points; statsmodels the unrounded band coefficients, so the two
    # probabilities differ by the rounding only: check the ranking agrees strongly
    p_sm = sm_fit.predict(dummies(big))
    rho = pd.Series(p_card).corr(pd.Series(p_sm), method="spearman")
    print(f"scoring {args.n:,} patients: score card {t_card:.3f} s "
          f"({args.n / t_card:,.0f} patients/s); statsmodels predict on the dummy design "
          f"{t_sm:.3f} s ({args.n / t_sm:,.0f}/s); ratio {t_sm / t_card:.2f}; "
          f"Spearman(card, statsmodels) = {rho:.3f}")
    # exactness: the card equals the fitted point-score model on the derivation data
    exact = np.nanmax(np.abs(score_frame(card, data[names])["probability"].to_numpy()
                             - model.predict_proba(data)))
    print(f"max |card - PointScoreModel.predict_proba| on the derivation data: {exact:.1e}")

    # --- 2. imputation engines --------------------------------------------------------
    from crsscore.modeling.candidates import candidates, design_matrix

    X = design_matrix(data, candidates(list(DerivationSettings().candidates)))
    t_norm = best_of(lambda: impute_chained(X, y=y, m=1, seed=0, engine="norm"))
    t_skl = best_of(lambda: impute_chained(X, y=y, m=1, seed=0, engine="sklearn"))
    print(f"one imputation of {X.shape[0]} x {X.shape[1]} ({int(np.isnan(X).sum())} missing): "
          f"norm {1000 * t_norm:.1f} ms, sklearn IterativeImputer {1000 * t_skl:.1f} ms, "
          f"ratio {t_skl / t_norm:.1f}")
    s1 = DerivationSettings(seed=1, n_imputations=1)
    t_fit = best_of(lambda: PointScoreModel(s1).fit(data, y))
    print(f"one whole derivation fit (m=1, Firth, backward AIC, bands, points): {t_fit:.3f} s")


if __name__ == "__main__":
    main()
