"""Benchmark: one multivariable logistic fit with backward selection, crsscore vs statsmodels.

    .venv/bin/python benchmarks/bench_fit.py

Data: tests/fixtures/r/cohort125.csv (n = 125, x1..x7 standard normal, 24 events).
Both sides do the same work: fit the full model, then backward elimination by AIC with true
refits (drop the variable whose removal lowers AIC most, until none does).  crsscore:
``backward_select``; statsmodels: ``Logit(...).fit(method="newton")`` in the same loop.  Also
times a single full-model fit and rms-style ``fastbw`` (no refits).  Reports the median of
repeated runs (ms) measured side by side in one process, and checks that both select the same
variables with the same coefficients.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from crsscore.modeling.logistic import fit_logistic
from crsscore.modeling.selection import backward_select, fastbw

ROOT = Path(__file__).resolve().parents[1]
XCOLS = [f"x{i}" for i in range(1, 8)]


def sm_backward_aic(X: pd.DataFrame, y: pd.Series) -> tuple[list[str], np.ndarray]:
    cols = list(X.columns)

    def fit(c: list[str]) -> object:
        return sm.Logit(y, sm.add_constant(X[c], has_constant="add")).fit(disp=0, method="newton")

    cur = fit(cols)
    while cols:
        trials = {c: fit([k for k in cols if k != c]) for c in cols}
        best = min(trials, key=lambda c: trials[c].aic)  # type: ignore[attr-defined]
        if trials[best].aic > cur.aic:  # type: ignore[attr-defined]
            break
        cols.remove(best)
        cur = trials[best]
    return cols, np.asarray(cur.params)  # type: ignore[attr-defined]


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    d = pd.read_csv(ROOT / "tests" / "fixtures" / "r" / "cohort125.csv")
    X, y = d[XCOLS], d["y"]
    warnings.simplefilter("ignore")
    ours = backward_select(X, y, rule="aic")
    kept, params = sm_backward_aic(X, y)
    assert list(ours.kept) == kept, (ours.kept, kept)
    diff = float(np.max(np.abs(ours.fit.coef - params)))
    rows = [
        ("single full fit (8 parameters)", lambda: fit_logistic(X, y),
         lambda: sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton")),
        ("backward AIC selection with refits", lambda: backward_select(X, y, rule="aic"),
         lambda: sm_backward_aic(X, y)),
    ]
    print(f"n = {len(y)}, events = {int(y.sum())}; both keep {', '.join(kept)}; "
          f"max |coef difference| = {diff:.1e}\n")
    print("| task | crsscore (ms) | statsmodels (ms) | ratio |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        ta, tb = median_ms(a, 30), median_ms(b, 30)
        print(f"| {name} | {ta:.2f} | {tb:.2f} | {tb / ta:.1f}x |")
    full = fit_logistic(X, y)
    tf = median_ms(lambda: fastbw(full), 100)
    print(f"| rms fastbw (approximate, no refits) | {tf:.2f} | - | - |")


if __name__ == "__main__":
    main()
